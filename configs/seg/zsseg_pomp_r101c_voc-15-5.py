# ZSSeg stage 2 on Pascal VOC (15 seen / 5 unseen): MaskFormer R101c
# classifying with the frozen VOC stage-1 POMP prompt, CLIP ensemble λ = 0.7.
# POMP reports hIoU 84.4, mIoU-unseen 76.8 (docs/segmentation.md).
#   1. python tools/train.py configs/seg/pomp_maskclip_vit-b16_voc-15-5.py
#   2. python tools/train.py THIS_CONFIG   (20k iters, batch 16; assumed)
_base_ = [
    '_base_/voc_15_5.py', '_base_/pomp_seg_runtime.py',
    '_base_/zsseg_maskformer.py'
]
# after _base_: an import before it would make this a lazy config
from pomp_mm.seg.splits import VOC_SEEN  # noqa: E402

max_iters = 20000
model = dict(
    data_preprocessor=dict(size=(512, 512)),  # = the crop size
    decode_head=dict(
        text_encoder=dict(
            vocabulary=VOC_SEEN,
            prompt_learner=dict(
                prompt_checkpoint='work_dirs/pomp_maskclip_vit-b16_voc-15-5/'
                'prompt_latest.pth')),
        clip_ensemble_lambda=0.7))
train_dataloader = dict(batch_size=2)  # x 8 GPUs = 16
train_cfg = dict(max_iters=max_iters, val_interval=max_iters // 4)
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
default_hooks = dict(checkpoint=dict(interval=5000))
