# Open-vocabulary LVIS: train on LVIS v1 without the rare classes' boxes
# (lvis_v1_train_norare.json, see docs/detection.md), test on lvis_v1_val
# with all 1203 classes; LVISMetric reports lvis/bbox_APr (rare = novel).
# Needs the `lvis` package (pinned in requirements/lock.txt; pomp_mm.det
# patches lvis 0.5.3 for numpy 2).
_base_ = './_base_/pomp_faster-rcnn_fpn.py'

dataset_type = 'LVISV1Dataset'
data_root = 'data/lvis_v1/'
train_ann = 'annotations/lvis_v1_train_norare.json'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            num_classes=1203,
            loss_cls=dict(
                type='PompSigmoidCELoss',
                use_fed_loss=True,
                cat_freq_path=data_root + train_ann,
                fed_loss_num_cat=50))),
    test_cfg=dict(
        rcnn=dict(
            score_thr=0.0001,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=300)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736),
                (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
lvis_train_set = dict(
    type='ClassBalancedDataset',
    oversample_thr=1e-3,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=train_ann,
        data_prefix=dict(img=''),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline))
train_dataloader = dict(dataset=dict(_delete_=True, **lvis_train_set))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/lvis_v1_val.json',
        data_prefix=dict(img='')))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='LVISMetric',
    ann_file=data_root + 'annotations/lvis_v1_val.json',
    metric='bbox')
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=24)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=24, by_epoch=True,
         milestones=[16, 22], gamma=0.1)
]
