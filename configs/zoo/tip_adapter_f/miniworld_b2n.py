# ruff: noqa: C408  (OpenMMLab configs are written with dict(...))
# Tip-Adapter-F (Zhang et al., ECCV 2022): Tip-Adapter's cache keys made
# learnable (initialised from the cache) and fine-tuned with cross-entropy
# on the base classes, as the paper: 20 epochs, AdamW, lr 1e-3, cosine.
# The model and hooks are ../tip_adapter/miniworld_b2n.py's with
# learnable_keys=True (tests/test_configs.py checks that they stay so).
#   python tools/train.py configs/zoo/tip_adapter_f/miniworld_b2n.py
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(type='TipAdapterClassifier', clip={{_base_.clip}}, alpha=1.0,
             beta=5.5, learnable_keys=True, templates='a photo of a {}.')
# the cache hook first (custom_hooks.0), then the base's hooks without the
# prompt files (there is no prompt here)
custom_hooks = [dict(type='TipAdapterCacheHook', augment_epochs=10)] + [
    h for h in _base_.custom_hooks if h['type'] != 'PromptCheckpointHook'
]
max_epochs = 20
optim_wrapper = dict(
    _delete_=True,  # AdamW, not the base's SGD (whose momentum it lacks)
    optimizer=dict(type='AdamW', lr=1e-3, eps=1e-4, weight_decay=0.01))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.0,
         by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs,
                 val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=1000, save_last=True))
