# Linear probe on frozen CLIP image features (CLIP's linear-probe baseline):
# mmpretrain's ImageClassifier with the frozen CLIP image tower as backbone
# (pomp_mm CLIPImageBackbone, L2-normalised features) and mmpretrain's
# LinearClsHead, trained with cross-entropy on the dataset's 16-shot train
# split (un-augmented centre crops, as CLIP's paper fits frozen features).
# Only the head trains; epoch_N.pth holds it, so
#   python tools/test.py THIS_CONFIG work_dirs/<cfg>/epoch_50.pth
# evaluates it. CLIP is rebuilt from clip_checkpoint.
_base_ = ['../../_base_/pomp_runtime.py']

clip_checkpoint = 'checkpoints/ViT-B-16.pt'
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        mean=[122.770938, 116.7460125, 104.09373615],
        std=[68.5005327, 66.6321579, 70.32316305],
        to_rgb=True),
    backbone=dict(
        type='CLIPImageBackbone',
        clip=dict(type='FrozenCLIP', model_name='ViT-B-16',
                  checkpoint=clip_checkpoint),
        normalize=True,
        scale=10.0),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,  # set by each dataset config
        in_channels=512,  # CLIP's embed dim (ViT-B/16: 512, ViT-L/14: 768)
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
# no vocabulary, no prompt; stop at the first NaN/Inf loss or weight
custom_hooks = [dict(type='NonFiniteCheckHook')]
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=1,
                                     save_last=True))

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    collate_fn=dict(type='default_collate'),
    sampler=dict(type='DefaultSampler', shuffle=True))
test_dataloader = dict(
    batch_size=100,
    num_workers=8,
    persistent_workers=True,
    collate_fn=dict(type='default_collate'),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_evaluator = dict(type='Accuracy', topk=(1, 5))

max_epochs = 50
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.0,
         by_epoch=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
test_cfg = dict()
