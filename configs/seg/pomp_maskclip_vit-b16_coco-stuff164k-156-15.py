# Open-vocabulary COCO-Stuff-164k (ZSSeg split 156 seen / 15 unseen), POMP
# prompt + CLIP ViT-B/16, training-free MaskCLIP-style segmentor.
#   zero-shot:  python tools/test.py THIS_CONFIG [PROMPT]
#   stage 1:    python tools/train.py THIS_CONFIG   (16k iters x 32)
# The prompt it writes is the one the ADE20K / Pascal Context configs and the
# stage-2 config use.
_base_ = [
    '_base_/coco-stuff164k_156_15.py', '_base_/pomp_seg_runtime.py',
    '_base_/pomp_maskclip.py'
]
max_iters = 16000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=500),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=500, end=max_iters,
         eta_min=0.0),
]
default_hooks = dict(checkpoint=dict(interval=4000))
model = dict(data_preprocessor=dict(size=(512, 512)))  # = the crop size
