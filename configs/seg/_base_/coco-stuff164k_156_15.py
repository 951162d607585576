# COCO-Stuff-164k in the ZSSeg split: 171 classes, 156 seen for training
# (unseen pixels -> 255 through metainfo classes), all 171 for testing.
_base_ = ['mmseg::_base_/datasets/coco-stuff164k.py']
# after _base_: an import before it would make this a lazy config
from pomp_mm.seg.splits import (  # noqa: E402
    COCO_STUFF_CLASSES, COCO_STUFF_SEEN, COCO_STUFF_UNSEEN)

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
    batch_size=32,
    num_workers=4,
    dataset=dict(metainfo=dict(classes=COCO_STUFF_SEEN),
                 pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(metainfo=dict(classes=COCO_STUFF_CLASSES),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='HIoUMetric', unseen_classes=COCO_STUFF_UNSEEN)
test_evaluator = val_evaluator
