# POMP pre-training on the embedded default data (generated on first use, no
# download) with a random tiny CLIP: a 30-second demo of the loop (accuracy
# is at chance; tools/miniworld.py is the meaningful run):
#   python tools/train.py configs/pomp/pretrain.py
#   python tools/test.py configs/pomp/pretrain.py work_dirs/pretrain/prompt_latest.pth
# Real recipes: configs/pomp/pomp_vit-b16_nctx{4,16}_ep{5,20}_in21k.py.
_base_ = ['../_base_/pomp_runtime.py']

data_root = 'data/pomp_default'
clip_checkpoint = None  # a tiny random CLIP unless a weight file is given

model = dict(
    type='PromptCLIPClassifier',
    prompt_learner=dict(
        type='PompPromptLearner',
        # the demo's random CLIP is asked for explicitly (a missing
        # checkpoint is otherwise an error)
        clip=dict(type='FrozenCLIP', model_name='pomp-tiny-vit',
                  checkpoint=clip_checkpoint, allow_random=True),
        n_ctx=4),
    # 48 classes: K=16 scores 15 drawn negatives + the positive per view
    loss=dict(type='PompLoss', num_classes_per_step=16, correction=True,
              log_base='e'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[[
        dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0),
             interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    ]]),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    batch_size=32,
    num_workers=0,
    persistent_workers=False,  # True needs num_workers > 0
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='EmbeddedDataset', data_root=data_root, split='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    batch_size=64,
    num_workers=0,
    persistent_workers=False,  # True needs num_workers > 0
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='EmbeddedDataset', data_root=data_root, split='val',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator

max_epochs = 6
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.0,
         by_epoch=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=2)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(interval=10))
