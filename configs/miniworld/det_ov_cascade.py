# Open-vocabulary detection and instance segmentation on mini-world scenes
# with the cascade of configs/det/ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x.py
# (3 stages at IoU 0.6/0.7/0.8 that all classify with the prompt's text
# features, one text side, a class-agnostic mask head), on det_ov.py's data,
# backbone and schedule (_base_/det_scenes.py). Trained on the seen classes'
# boxes and masks of a target, tested on all its classes: PompOVCocoMetric
# reports box and mask AP50 on the seen (base) and unseen (novel) classes
# (coco/bbox_novel_ap50, coco/segm_novel_ap50). Run by tools/miniworld.py;
# on its own, after the export of det_ov.py:
#   python tools/train.py configs/miniworld/det_ov_cascade.py --cfg-options \
#       model.roi_head.bbox_head.0.cls_predictor_cfg.prompt_learner.prompt_checkpoint=PROMPT.pth
_base_ = [
    '../det/_base_/pomp_cascade-mask-rcnn_fpn.py', './_base_/det_scenes.py'
]

custom_imports = dict(
    imports=['pomp_mm.det', 'pomp_mm.benchmarks.miniworld.det'],
    allow_failed_imports=False)
data_root = _base_.scene_root
clip_checkpoint = _base_.scene_clip
max_epochs = _base_.scene_epochs
train_pipeline = [
    dict(t, with_mask=True) if t['type'] == 'LoadAnnotations' else t
    for t in _base_.scene_train_pipeline
]
test_pipeline = _base_.scene_test_pipeline

# stage 0 names the text side; stages 1 and 2 get its prompt learner from
# PompCascadeRoIHead, and have their own logit bias
model = dict(
    backbone=_base_.scene_backbone,
    neck=_base_.scene_neck,
    rpn_head=_base_.scene_rpn_head,
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        mask_roi_extractor=dict(out_channels=64),
        bbox_head=[
            dict(
                head,
                num_classes=_base_.scene_seen_classes,
                in_channels=64,
                fc_out_channels=256,
                cls_predictor_cfg=dict(_base_.scene_classifier)
                if k == 0 else dict(head['cls_predictor_cfg'], use_bias=-4.6))
            for k, head in enumerate(_base_.model.roi_head.bbox_head)
        ],
        mask_head=dict(
            num_classes=_base_.scene_seen_classes,
            in_channels=64,
            conv_out_channels=64)),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=128)),
        rpn_proposal=dict(nms_pre=600, max_per_img=300),
        rcnn=[
            dict(stage, sampler=dict(stage['sampler'], num=64))
            for stage in _base_.model.train_cfg.rcnn
        ]),
    test_cfg=_base_.scene_test_cfg)

train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(_base_.scene_train_set, _delete_=True,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, **_base_.scene_test_set))
test_dataloader = val_dataloader
val_evaluator = dict(
    _base_.scene_evaluator, type='PompOVCocoMetric', metric=['bbox', 'segm'])
test_evaluator = val_evaluator

train_cfg = _base_.scene_train_cfg
optim_wrapper = _base_.scene_optim_wrapper
param_scheduler = _base_.scene_param_scheduler
default_hooks = _base_.scene_default_hooks
