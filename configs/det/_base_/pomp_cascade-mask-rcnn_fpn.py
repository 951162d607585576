# mmdet's Cascade Mask R-CNN FPN with the POMP zero-shot classifier in
# every one of its 3 stages (Detic's CenterNet2 RoI side, first step):
# PompCascadeRoIHead builds the text side (prompt learner + CLIP text tower)
# once, in stage 0, and gives it to stages 1 and 2; each stage has its own
# projection, class-agnostic box regression and sigmoid CE; the mask head is
# class-agnostic. The proposals are mmdet's RPN (not CenterNet's yet).
_base_ = 'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['pomp_mm.det'], allow_failed_imports=False)
default_scope = 'mmdet'
# mmdet's CheckpointHook + atomic writes, safe --resume, work-dir lock
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))

# Local files only; nothing is downloaded. Override on the command line:
#   --cfg-options model.roi_head.bbox_head.0.cls_predictor_cfg\
#   .prompt_learner.prompt_checkpoint=PROMPT.pth   (stages 1 and 2 share
#   stage 0's; or: tools/test.py CONFIG DET.pth --prompt PROMPT.pth)
clip_checkpoint = 'checkpoints/ViT-B-16.pt'
prompt_checkpoint = None  # e.g. the released nctx16 POMP prompt

prompt_learner = dict(
    type='PompPromptLearner',
    clip=dict(
        type='FrozenCLIP',
        model_name='ViT-B-16',
        checkpoint=clip_checkpoint,
        text_only=True),
    n_ctx=16,
    prompt_checkpoint=prompt_checkpoint,
    freeze=True)
num_classes = 80
# stage 0's classifier names the text side; stages 1 and 2 name none, so
# PompCascadeRoIHead gives them stage 0's prompt learner (or .npy)
classifiers = [
    dict(type='PompZeroShotClassifier', prompt_learner=prompt_learner,
         norm_temperature=50.0),
    dict(type='PompZeroShotClassifier', norm_temperature=50.0),
    dict(type='PompZeroShotClassifier', norm_temperature=50.0)
]
loss_cls = dict(type='PompSigmoidCELoss')
# one bbox head per stage: mmdet's cascade target stds, all else the same
stage_stds = [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
              [0.033, 0.033, 0.067, 0.067]]
bbox_head = dict(
    type='PompBBoxHead',
    in_channels=256,
    fc_out_channels=1024,
    roi_feat_size=7,
    num_classes=num_classes,
    reg_class_agnostic=True,
    loss_cls=loss_cls,
    loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))
# Detic's cascade IoUs (ROI_BOX_CASCADE_HEAD.IOUS)
stage_ious = [0.6, 0.7, 0.8]
rcnn_train_cfg = [
    dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=iou,
            neg_iou_thr=iou,
            min_pos_iou=iou,
            match_low_quality=False,
            ignore_iof_thr=-1),
        sampler=dict(
            type='RandomSampler',
            num=512,
            pos_fraction=0.25,
            neg_pos_ub=-1,
            add_gt_as_proposals=True),
        mask_size=28,
        pos_weight=-1,
        debug=False) for iou in stage_ious
]

model = dict(
    type='PompTwoStageDetector',
    # no download (mmdet's torchvision:// init is replaced): ImageNet-21K
    # R50 weights from a local file in torchvision/timm key names (Detic's
    # R50-21K is MIIL's); a missing file is an error. Another file:
    #   --cfg-options model.backbone.init_cfg.checkpoint=PATH
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/resnet50_miil_21k.pth')),
    roi_head=dict(
        type='PompCascadeRoIHead',
        bbox_head=[
            dict(
                bbox_head,
                cls_predictor_cfg=classifier,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=stds))
            for classifier, stds in zip(classifiers, stage_stds)
        ],
        mask_head=dict(
            num_classes=num_classes,
            class_agnostic=True)),
    train_cfg=dict(rcnn=rcnn_train_cfg))

# the test vocabulary is the test set's classes: return_classes=True puts
# them in data_sample.text ('text' must be a meta key)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'text', 'custom_entities'))
]
val_dataloader = dict(
    dataset=dict(pipeline=test_pipeline, return_classes=True))
test_dataloader = val_dataloader

# training vocabulary = the training set's metainfo['classes']
custom_hooks = [dict(type='VocabularyHook'),
                dict(type='NonFiniteCheckHook')]  # stop at a NaN/Inf loss
