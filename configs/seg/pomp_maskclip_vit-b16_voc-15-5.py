# Open-vocabulary Pascal VOC (ZSSeg split 15 seen / 5 unseen), POMP prompt +
# CLIP ViT-B/16, training-free MaskCLIP-style segmentor.
#   zero-shot:  python tools/test.py THIS_CONFIG [PROMPT]
#   stage 1:    python tools/train.py THIS_CONFIG   (prompt tuned on the 15
#               seen classes, 3.2k iters x 16; writes prompt_*.pth)
# Reports mIoU, mIoU-seen, mIoU-unseen and hIoU over the 20 classes.
_base_ = [
    '_base_/voc_15_5.py', '_base_/pomp_seg_runtime.py',
    '_base_/pomp_maskclip.py'
]
model = dict(data_preprocessor=dict(size=(512, 512)))  # = the crop size
