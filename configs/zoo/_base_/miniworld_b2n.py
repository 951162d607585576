# Shared base of every transfer-method zoo config on the mini-world:
# few-shot training on a target's seen (base) classes, validation on them,
# tested on seen and unseen (novel) classes by tools/zoo.py (CoCoOp's
# base-to-novel protocol). Method configs inherit this file and set `model`
# (this base has none), reusing the `clip` dict below:
#   _base_ = ['../_base_/miniworld_b2n.py']
#   model = dict(type='CoCoOpClassifier', clip=clip, ...)
# Change the target or shots with --cfg-options (the variables below are
# resolved when the file is read, so override the dataset keys), e.g.
#   train_dataloader.dataset.split=stars_hearts \
#   train_dataloader.dataset.images_per_class=4
_base_ = ['../../_base_/pomp_runtime.py']

custom_imports = dict(imports=['pomp_mm.core', 'pomp_mm.cls',
                               'pomp_mm.benchmarks.miniworld'],
                      allow_failed_imports=False)
clip_checkpoint = 'data/miniworld/tiny_clip.pt'
clip = dict(type='FrozenCLIP', model_name='pomp-mini-vit',
            checkpoint=clip_checkpoint)
# the POMP prompt pre-trained on the source vocabulary (tools/miniworld.py,
# training seed 0: WORK_DIR/seed0/pomp);
# methods that start from a prompt take it as `prompt_checkpoint`
pomp_prompt = 'work_dirs/miniworld/seed0/pomp/prompt_latest.pth'

target = 'mixed200'
shots = 8
train_pipeline = [
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.0),
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    batch_size=32,
    num_workers=0,
    persistent_workers=False,  # True needs num_workers > 0
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='MiniWorldClassification', split=target,
                 subset='seen', images_per_class=shots, sample_seed=11,
                 pipeline=train_pipeline))
val_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    batch_size=128,
    num_workers=0,
    persistent_workers=False,  # True needs num_workers > 0
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='MiniWorldClassification', split=target,
                 subset='seen', images_per_class=4, sample_seed=12,
                 pipeline=test_pipeline))
# tools/zoo.py sets subset='unseen' for the novel half
test_dataloader = dict(
    collate_fn=dict(type='default_collate'),
    batch_size=128,
    num_workers=0,
    persistent_workers=False,  # True needs num_workers > 0
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='MiniWorldClassification', split=target,
                 subset='seen', images_per_class=10, sample_seed=3,
                 pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_epochs = 10
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.0,
         by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs,
                 val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(interval=10))
randomness = dict(seed=0)
