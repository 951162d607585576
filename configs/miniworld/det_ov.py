# Open-vocabulary detection on mini-world scenes: mmdet's Faster R-CNN with
# the Detic-style POMP classifier (PompBBoxHead), trained on the seen (base)
# classes of a target, tested on all its classes; OVCocoMetric reports
# novel_ap50 on the unseen ones. Run by tools/miniworld.py; on its own:
#   python -m pomp_mm.benchmarks.miniworld.export data/miniworld/scenes/mixed200 \
#       --split train:600 --split test:300
#   python tools/train.py configs/miniworld/det_ov.py --cfg-options \
#       model.roi_head.bbox_head.cls_predictor_cfg.prompt_learner.prompt_checkpoint=PROMPT.pth
#   (the hand template "a photo of a" when unset)
# The backbone (mmdet's ResNet in the base) is a narrow ResNet-18 (depth 18,
# 32 base channels) trained from scratch (this world has no ImageNet), at
# the scenes' own 128 px.
_base_ = '../det/_base_/pomp_faster-rcnn_fpn.py'

custom_imports = dict(
    imports=['pomp_mm.det', 'pomp_mm.benchmarks.miniworld.det'],
    allow_failed_imports=False)

data_root = 'data/miniworld/scenes/mixed200/'
clip_checkpoint = 'data/miniworld/tiny_clip.pt'
prompt_checkpoint = None  # None: ctx = "a photo of a" (the hand template)
model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(depth=18, base_channels=32, init_cfg=None,
                  norm_eval=False, frozen_stages=-1),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64,
                  anchor_generator=dict(scales=[4], strides=[4, 8, 16, 32,
                                                             64])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(
            num_classes=100,  # the target's seen classes (mixed200)
            in_channels=64, fc_out_channels=256,
            cls_predictor_cfg=dict(
                # a learnable logit bias starting at log-odds(0.01) (Detic's
                # USE_BIAS / PRIOR_PROB): without it, the spread-out text
                # features of learned prompts left no region direction that
                # scores every class low, and background went unlearned
                # (docs/miniworld.md, Detection)
                use_bias=-4.6,
                prompt_learner=dict(
                    clip=dict(model_name='pomp-mini-vit',
                              checkpoint=clip_checkpoint),
                    n_ctx=None, ctx_init='a photo of a',
                    prompt_checkpoint=prompt_checkpoint)))),
    train_cfg=dict(rpn=dict(sampler=dict(num=128)),
                   rpn_proposal=dict(nms_pre=600, max_per_img=300),
                   rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100),
                  rcnn=dict(score_thr=0.01, max_per_img=30)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor', 'text', 'custom_entities')),
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='MiniWorldCocoDataset',
                 data_root=data_root, split='train', subset='seen',
                 filter_cfg=dict(filter_empty_gt=True, min_size=8),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='MiniWorldCocoDataset',
                 data_root=data_root, split='test', subset='all',
                 test_mode=True, return_classes=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='OVCocoMetric',
                     ann_file=data_root + 'instances_test.json',
                     metric='bbox')
test_evaluator = val_evaluator

max_epochs = 12
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9,
                                    weight_decay=1e-4),
                     clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
         eta_min=0.0, convert_to_iter_based=True),
]
default_hooks = dict(logger=dict(interval=25),
                     checkpoint=dict(interval=max_epochs))
