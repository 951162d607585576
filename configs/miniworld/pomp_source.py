# POMP pre-training on the mini-world's source vocabulary (16,589 classes,
# the ImageNet-21K stand-in) with the tiny CLIP of tools/train_tiny_clip.py.
# Run by tools/miniworld.py; also on its own:
#   python tools/train.py configs/miniworld/pomp_source.py
_base_ = ['../_base_/pomp_runtime.py']

custom_imports = dict(imports=['pomp_mm.core', 'pomp_mm.cls',
                               'pomp_mm.benchmarks.miniworld'],
                      allow_failed_imports=False)
clip_checkpoint = 'data/miniworld/tiny_clip.pt'

model = dict(
    type='PromptCLIPClassifier',
    prompt_learner=dict(
        type='PompPromptLearner',
        clip=dict(type='FrozenCLIP', model_name='pomp-mini-vit',
                  checkpoint=clip_checkpoint),
        n_ctx=4),
    loss=dict(type='PompLoss', num_classes_per_step=1000, correction=True,
              log_base='e'),
    text_batch_size=1024)

train_pipeline = [
    dict(type='MultiView', num_views=2, transforms=[[
        dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.0),
             interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    ]]),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    batch_size=64,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='MiniWorldClassification', split='source',
                 images_per_class=1, sample_seed=1, pipeline=train_pipeline))
# model selection on held-out source images (as POMP uses IN-21K val)
val_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    batch_size=128,
    num_workers=0,
    persistent_workers=False,  # True needs num_workers > 0
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='MiniWorldClassification', split='source',
                 images_per_class=1, sample_seed=2, max_classes=2000,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator

max_epochs = 1
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.0,
         by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(interval=50))
