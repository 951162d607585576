# Open-vocabulary LVIS, box-supervised (Detic's
# BoxSup-C2_Lbase_CLIP_R5021k_640b64_4x with the POMP prompt, RPN instead of
# CenterNet proposals): boxes and masks of the LVIS v1 base classes
# (lvis_v1_train_norare.json, see docs/detection.md), repeat-factor
# sampling 1e-3, the federated loss, 640 px large-scale jitter, AdamW 2e-4
# at batch 64 (8 GPUs x 8), cosine schedule; 3 cascade stages at IoU
# 0.6/0.7/0.8 that all classify with the prompt's text features; a
# class-agnostic mask head. Test on lvis_v1_val with all 1203 classes:
# LVISMetric reports lvis/bbox_APr and lvis/segm_APr (rare = novel).
_base_ = './_base_/pomp_cascade-mask-rcnn_fpn.py'

dataset_type = 'LVISV1Dataset'
data_root = 'data/lvis_v1/'
train_ann = 'annotations/lvis_v1_train_norare.json'
image_size = (640, 640)

fed_loss = dict(
    type='PompSigmoidCELoss',
    use_fed_loss=True,
    cat_freq_path=data_root + train_ann,
    fed_loss_num_cat=50)
model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)
    ]),
    roi_head=dict(
        bbox_head=[
            dict(head, num_classes=1203, loss_cls=fed_loss)
            for head in _base_.model.roi_head.bbox_head
        ],
        mask_head=dict(num_classes=1203)),
    # Detic: 300 detections, score > 0.02, NMS 0.5
    test_cfg=dict(
        rcnn=dict(
            score_thr=0.02,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=300,
            mask_thr_binary=0.5)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomResize',
        scale=image_size,
        ratio_range=(0.1, 2.0),
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_type='absolute_range',
        crop_size=image_size,
        recompute_bbox=True,
        allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'text', 'custom_entities'))
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
train_dataloader = dict(
    batch_size=8, num_workers=4, dataset=dict(_delete_=True, **lvis_train_set))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/lvis_v1_val.json',
        data_prefix=dict(img=''),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='LVISMetric',
    ann_file=data_root + 'annotations/lvis_v1_val.json',
    metric=['bbox', 'segm'])
test_evaluator = val_evaluator

# "4x": 48 epochs of the repeat-factor-sampled set (Detic: 90k iterations
# at batch 64), validated at the end
max_epochs = 48
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=1000),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
         T_max=max_epochs, eta_min=0.0, convert_to_iter_based=True)
]
# lr 2e-4 is for 64 images per step (8 GPUs x 8); --auto-scale-lr scales it
auto_scale_lr = dict(enable=False, base_batch_size=64)
