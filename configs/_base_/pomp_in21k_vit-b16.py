# The POMP paper recipe: ImageNet-21K (winter21, MIIL layout), 16 shots per
# class, CLIP ViT-B/16, K=1000 classes per step, SGD 0.002, cosine, 1 constant
# warm-up epoch at 1e-5, 32 images x 4 views per GPU (8 GPUs in the paper).
# The n_ctx / epoch variants inherit this file next to the runtime (its keys
# and ./pomp_runtime.py's are disjoint):
#   _base_ = ['../_base_/pomp_runtime.py', '../_base_/pomp_in21k_vit-b16.py']

clip_checkpoint = 'checkpoints/ViT-B-16.pt'  # OpenAI weights, local file
data_root = 'data/imagenet21k_resized'
n_ctx = 16
max_epochs = 20

model = dict(
    type='PromptCLIPClassifier',
    prompt_learner=dict(
        type='PompPromptLearner',
        clip=dict(type='FrozenCLIP', model_name='ViT-B-16',
                  checkpoint=clip_checkpoint),
        n_ctx=n_ctx,
        class_token_position='end'),
    loss=dict(type='PompLoss', num_classes_per_step=1000, correction=True,
              log_base='e'),
    text_batch_size=512)

# Dassl's RandAugment2 (n=2, p=0.6, uniform magnitudes) in mmpretrain terms;
# Dassl's 15th op, Identity, is a no-op and has no mmpretrain transform.
randaug_policies = [
    dict(type='AutoContrast', prob=0.6),
    dict(type='Brightness', magnitude_range=(0, 0.9), prob=0.6),
    dict(type='ColorTransform', magnitude_range=(0, 0.9), prob=0.6),
    dict(type='Contrast', magnitude_range=(0, 0.9), prob=0.6),
    dict(type='Equalize', prob=0.6),
    dict(type='Invert', prob=0.6),
    dict(type='Posterize', magnitude_range=(8, 4), prob=0.6),
    dict(type='Rotate', magnitude_range=(0, 30), prob=0.6),
    dict(type='Sharpness', magnitude_range=(0, 0.9), prob=0.6),
    dict(type='Shear', magnitude_range=(0, 0.3), direction='horizontal',
         prob=0.6),
    dict(type='Shear', magnitude_range=(0, 0.3), direction='vertical',
         prob=0.6),
    dict(type='Solarize', magnitude_range=(256, 0), prob=0.6),
    dict(type='Translate', magnitude_range=(0, 0.3), direction='horizontal',
         prob=0.6),
    dict(type='Translate', magnitude_range=(0, 0.3), direction='vertical',
         prob=0.6),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=4, transforms=[[
        dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0),
             interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='RandAugment', policies=randaug_policies, num_policies=2,
             magnitude_level=10, magnitude_std='inf', total_level=10,
             hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    ]]),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=224, edge='short', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='ImageNet21K', data_root=data_root, split='train',
                 num_shots=16, seed=42, pipeline=train_pipeline))
val_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    batch_size=100,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ImageNet21K', data_root=data_root, split='val',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.002, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    # epoch 0 at 1e-5 (Dassl's constant warm-up), then cosine from 0.002
    # mmengine's ConstantLR restores the lr when it steps into epoch end-1,
    # so end=2 gives epoch 0 at 1e-5 and epoch 1 at 0.002 (tested)
    dict(type='ConstantLR', factor=1e-5 / 0.002, begin=0, end=2,
         by_epoch=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.0, begin=1,
         end=max_epochs, by_epoch=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# the paper's global batch: 8 GPUs x 32 images
auto_scale_lr = dict(base_batch_size=256, enable=False)
