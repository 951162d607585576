# Pascal VOC 2012 in the ZSSeg split: 20 classes (background ignored), 15
# seen for training (unseen and background pixels -> 255 through
# metainfo classes), all 20 for testing with hIoU.
_base_ = ['mmseg::_base_/datasets/pascal_voc12.py']
# after _base_: an import before it would make this a lazy config
from pomp_mm.seg.splits import VOC_CLASSES, VOC_SEEN, VOC_UNSEEN  # noqa: E402

crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 448), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    dataset=dict(metainfo=dict(classes=VOC_SEEN), pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(metainfo=dict(classes=VOC_CLASSES), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='HIoUMetric', unseen_classes=VOC_UNSEEN)
test_evaluator = val_evaluator
