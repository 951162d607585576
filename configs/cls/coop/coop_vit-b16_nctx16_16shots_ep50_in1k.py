# CoOp (Zhou et al., 2022), the paper's main baseline: a 16-token prompt
# learned with the full softmax over ImageNet-1K's 1000 classes on 16 shots
# per class (seed 1), CLIP ViT-B/16, SGD 0.002, batch 32, 50 epochs, one
# constant warm-up epoch at 1e-5 then cosine; random resized crop + flip.
# The prompt file it writes is evaluated exactly like POMP's, with
# configs/cls/pomp/<dataset>.py:
#   python tools/train.py THIS_CONFIG --work-dir work_dirs/coop
#   python tools/results_table.py run --method CoOp --data-root data \
#       --prompt work_dirs/coop/prompt_epoch_50.pth
_base_ = ['../../_base_/pomp_runtime.py', '../_base_/datasets/imagenet.py']

clip_checkpoint = 'checkpoints/ViT-B-16.pt'
max_epochs = 50

model = dict(
    type='PromptCLIPClassifier',
    prompt_learner=dict(
        type='PompPromptLearner',
        clip=dict(type='FrozenCLIP', model_name='ViT-B-16',
                  checkpoint=clip_checkpoint),
        n_ctx=16,
        class_token_position='end'),
    loss=dict(type='PompLoss', num_classes_per_step=None),  # full softmax
    text_batch_size=512)

coop_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0),
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    collate_fn=dict(type='default_collate'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(_base_.train_dataset, pipeline=coop_train_pipeline))
val_dataloader = dict(
    batch_size=100,
    num_workers=8,
    persistent_workers=True,
    collate_fn=dict(type='default_collate'),
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=_base_.test_dataset)
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.002, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    # epoch 0 at 1e-5, then cosine from 0.002 (see the POMP recipe)
    dict(type='ConstantLR', factor=1e-5 / 0.002, begin=0, end=2,
         by_epoch=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.0, begin=1,
         end=max_epochs, by_epoch=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
