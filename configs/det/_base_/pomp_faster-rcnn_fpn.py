# mmdet's Faster R-CNN FPN whose box classifier scores RoIs against the
# text features of a POMP prompt (Detic-style zero-shot classifier, sigmoid
# CE, class-agnostic box regression). The backbone is mmdet's base's, a
# ResNet-50 (the ov-*/xd-* configs), unless a config sets another
# (configs/miniworld/det_ov.py: a narrow ResNet-18).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['pomp_mm.det'], allow_failed_imports=False)
default_scope = 'mmdet'
# mmdet's CheckpointHook + atomic writes, safe --resume, work-dir lock
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook'))

# Local files only; nothing is downloaded. Override on the command line:
#   --cfg-options model.roi_head.bbox_head.cls_predictor_cfg.prompt_learner\
#   .prompt_checkpoint=PROMPT.pth   (or: tools/test.py CONFIG DET.pth
#   --prompt PROMPT.pth)
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

model = dict(
    type='PompTwoStageDetector',
    roi_head=dict(
        bbox_head=dict(
            type='PompBBoxHead',
            num_classes=80,
            reg_class_agnostic=True,
            cls_predictor_cfg=dict(
                type='PompZeroShotClassifier',
                prompt_learner=prompt_learner,
                norm_temperature=50.0),
            loss_cls=dict(_delete_=True, type='PompSigmoidCELoss'))))

# the test vocabulary is the test set's classes: return_classes=True puts
# them in data_sample.text ('text' must be a meta key)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
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
