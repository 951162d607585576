# ruff: noqa: C408  (OpenMMLab configs are written with dict(...))
# Tip-Adapter (Zhang et al., ECCV 2022), training-free: the cache of the
# few-shot base-class images (keys: CLIP features averaged over 10 augmented
# passes; values: one-hot labels) next to the hand-template classifier,
#   logits = s f W^T + alpha exp(-beta (1 - f K^T)) L.
# "Training" runs 0 epochs: TipAdapterCacheHook builds the cache and saves
# epoch_0.pth, which tools/test.py evaluates:
#   python tools/train.py configs/zoo/tip_adapter/miniworld_b2n.py
#   python tools/test.py configs/zoo/tip_adapter/miniworld_b2n.py \
#       work_dirs/miniworld_b2n/epoch_0.pth
# (tools/test.py without a checkpoint builds the cache itself.)
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(type='TipAdapterClassifier', clip={{_base_.clip}}, alpha=1.0,
             beta=5.5, learnable_keys=False, templates='a photo of a {}.')
# the cache hook first (custom_hooks.0), then the base's hooks without the
# prompt files (there is no prompt here)
custom_hooks = [dict(type='TipAdapterCacheHook', augment_epochs=10)] + [
    h for h in _base_.custom_hooks if h['type'] != 'PromptCheckpointHook'
]
max_epochs = 0
param_scheduler = []
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
