# ruff: noqa: C408  (OpenMMLab configs are written with dict(...))
# Tip-Adapter-F (Zhang et al., ECCV 2022): Tip-Adapter's cache keys made
# learnable (initialised from the cache) and fine-tuned with cross-entropy
# on the base classes, as the paper: 20 epochs, AdamW, lr 1e-3, cosine.
#   python tools/train.py configs/zoo/tip_adapter_f/miniworld_b2n.py
_base_ = ['../tip_adapter/miniworld_b2n.py']

model = dict(learnable_keys=True)
max_epochs = 20
optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='AdamW', lr=1e-3, eps=1e-4, weight_decay=0.01))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.0,
         by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs,
                 val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=1000, save_last=True))
