# ZSSeg stage 2 on COCO-Stuff-164k (156 seen / 15 unseen): MaskFormer R101c
# classifying with the frozen stage-1 POMP prompt, CLIP ensemble λ = 0.8.
# POMP reports hIoU 39.1, mIoU-unseen 38.2 (docs/segmentation.md).
#   1. python tools/train.py \
#          configs/seg/pomp_maskclip_vit-b16_coco-stuff164k-156-15.py
#   2. python tools/train.py THIS_CONFIG    (60k iters, batch 32 = 8 x 4)
_base_ = [
    '_base_/coco-stuff164k_156_15.py', '_base_/pomp_seg_runtime.py',
    '_base_/zsseg_maskformer.py'
]
# after _base_: an import before it would make this a lazy config
from pomp_mm.seg.splits import COCO_STUFF_SEEN  # noqa: E402

model = dict(
    data_preprocessor=dict(size=(512, 512)),  # = the crop size
    decode_head=dict(text_encoder=dict(vocabulary=COCO_STUFF_SEEN),
                     clip_ensemble_lambda=0.8))
train_dataloader = dict(batch_size=4)
default_hooks = dict(checkpoint=dict(interval=10000))
