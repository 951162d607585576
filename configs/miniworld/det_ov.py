# Open-vocabulary detection on mini-world scenes: mmdet's Faster R-CNN with
# the Detic-style POMP classifier (PompBBoxHead), trained on the seen (base)
# classes of a target, tested on all its classes; OVCocoMetric reports
# novel_ap50 on the unseen ones. Run by tools/miniworld.py; on its own:
#   python -m pomp_mm.benchmarks.miniworld.export data/miniworld/scenes/mixed200 \
#       --split train:600 --split test:300
#   python tools/train.py configs/miniworld/det_ov.py --cfg-options \
#       model.roi_head.bbox_head.cls_predictor_cfg.prompt_learner.prompt_checkpoint=PROMPT.pth
#   (the hand template "a photo of a" when unset)
# The data, the narrow ResNet-18 trained from scratch at 128 px and the
# schedule are _base_/det_scenes.py's (shared with det_ov_cascade.py).
_base_ = ['../det/_base_/pomp_faster-rcnn_fpn.py', './_base_/det_scenes.py']

custom_imports = dict(
    imports=['pomp_mm.det', 'pomp_mm.benchmarks.miniworld.det'],
    allow_failed_imports=False)
# the base's names for what this config uses (not mmdet's COCO defaults)
data_root = _base_.scene_root
clip_checkpoint = _base_.scene_clip
train_pipeline = _base_.scene_train_pipeline
test_pipeline = _base_.scene_test_pipeline
max_epochs = _base_.scene_epochs

model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=_base_.scene_backbone,
    neck=_base_.scene_neck,
    rpn_head=_base_.scene_rpn_head,
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(
            num_classes=_base_.scene_seen_classes,
            in_channels=64, fc_out_channels=256,
            cls_predictor_cfg=_base_.scene_classifier)),
    train_cfg=dict(rpn=dict(sampler=dict(num=128)),
                   rpn_proposal=dict(nms_pre=600, max_per_img=300),
                   rcnn=dict(sampler=dict(num=64))),
    test_cfg=_base_.scene_test_cfg)

train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, **_base_.scene_train_set))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, **_base_.scene_test_set))
test_dataloader = val_dataloader
val_evaluator = _base_.scene_evaluator
test_evaluator = val_evaluator

train_cfg = _base_.scene_train_cfg
optim_wrapper = _base_.scene_optim_wrapper
param_scheduler = _base_.scene_param_scheduler
default_hooks = _base_.scene_default_hooks
