# The mini-world's open-vocabulary detection setting, shared by det_ov.py
# (Faster R-CNN) and det_ov_cascade.py (3-stage cascade + masks): the
# scenes of a target (train on its seen classes' boxes, test on all its
# classes), a narrow ResNet-18 (32 base channels) trained from scratch (this
# world has no ImageNet) at the scenes' own 128 px, and the schedule. Names
# start with scene_ so that they do not clash with mmdet's bases; each
# detector config assigns them.
scene_root = 'data/miniworld/scenes/mixed200/'
scene_clip = 'data/miniworld/tiny_clip.pt'
scene_seen_classes = 100  # mixed200's seen classes: the training vocabulary

scene_backbone = dict(depth=18, base_channels=32, init_cfg=None,
                      norm_eval=False, frozen_stages=-1)
scene_neck = dict(in_channels=[32, 64, 128, 256], out_channels=64)
scene_rpn_head = dict(
    in_channels=64, feat_channels=64,
    anchor_generator=dict(scales=[4], strides=[4, 8, 16, 32, 64]))
# the classifier: the prompt's text features of the tiny CLIP (the hand
# template "a photo of a" when prompt_checkpoint is None) and a learnable
# logit bias starting at log-odds(0.01) (Detic's USE_BIAS / PRIOR_PROB):
# without it, the spread-out text features of learned prompts left no
# region direction that scores every class low, and background went
# unlearned (docs/miniworld.md, Detection)
scene_classifier = dict(
    type='PompZeroShotClassifier',
    norm_temperature=50.0,
    use_bias=-4.6,
    prompt_learner=dict(
        type='PompPromptLearner',
        clip=dict(type='FrozenCLIP', model_name='pomp-mini-vit',
                  checkpoint=scene_clip, text_only=True),
        n_ctx=None, ctx_init='a photo of a', prompt_checkpoint=None,
        freeze=True))
scene_test_cfg = dict(rpn=dict(nms_pre=300, max_per_img=100),
                      rcnn=dict(score_thr=0.01, max_per_img=30))

scene_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
scene_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor', 'text', 'custom_entities')),
]
scene_train_set = dict(type='MiniWorldCocoDataset', data_root=scene_root,
                       split='train', subset='seen',
                       filter_cfg=dict(filter_empty_gt=True, min_size=8),
                       pipeline=scene_train_pipeline)
scene_test_set = dict(type='MiniWorldCocoDataset', data_root=scene_root,
                      split='test', subset='all', test_mode=True,
                      return_classes=True, pipeline=scene_test_pipeline)
scene_evaluator = dict(type='OVCocoMetric',
                       ann_file=scene_root + 'instances_test.json',
                       metric='bbox')

scene_epochs = 12
scene_train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=scene_epochs,
                       val_interval=scene_epochs)
scene_optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
scene_param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=scene_epochs,
         eta_min=0.0, convert_to_iter_based=True),
]
scene_default_hooks = dict(logger=dict(interval=25),
                           checkpoint=dict(interval=scene_epochs))
