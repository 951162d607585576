# ruff: noqa: C408  (OpenMMLab configs are written with dict(...))
# Linear probe (CLIP's baseline) on a mini-world target's seen classes:
# mmpretrain's ImageClassifier with the frozen CLIP image tower as backbone
# (L2-normalised features x 10) and a LinearClsHead, cross-entropy. It has a
# weight row per training class, so it cannot score novel classes or
# another dataset's classes (tools/zoo.py leaves those cells empty).
# num_classes is the seen half of mixed200; set it for another target.
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        mean=[122.770938, 116.7460125, 104.09373615],
        std=[68.5005327, 66.6321579, 70.32316305],
        to_rgb=True),
    backbone=dict(type='CLIPImageBackbone', clip={{_base_.clip}},
                  normalize=True, scale=10.0),
    head=dict(type='LinearClsHead', num_classes=100, in_channels=128,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
# no vocabulary (the head's rows are the classes) and no prompt files
custom_hooks = [h for h in _base_.custom_hooks if h['type'] not in
                ('VocabularyHook', 'PromptCheckpointHook')]
optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='AdamW', lr=1e-2, weight_decay=1e-4))
default_hooks = dict(checkpoint=dict(interval=1000, save_last=True))
