# Open-vocabulary detection and instance segmentation on mini-world scenes
# with CenterNet2's proposals: the cascade + masks of det_ov_cascade.py (3
# stages at IoU 0.6/0.7/0.8 that all classify with the prompt's text
# features, a class-agnostic mask head; same scenes, ResNet-18, 128 px,
# schedule and logit bias) whose proposals come from a class-agnostic
# CenterNet head (mmdet's CenterNetUpdateHead as PompCenterNetRPNHead,
# num_classes=1) and whose test score is CenterNet2's probabilistic one
# (mult_proposal_score), as configs/det/ov-lvis_pomp_centernet2_r50_fpn_4x.py
# builds it for LVIS.
# What is scaled to this world: the head's width (64 channels, the scene
# neck's) and its levels (the scene neck's P2-P6 at strides 4-64 instead of
# P3-P7 at 8-128, with Detic's size ranges halved with the strides). Run by
# tools/miniworld.py --det-models centernet2; on its own, after the export
# of det_ov.py:
#   python tools/train.py configs/miniworld/det_ov_centernet2.py --cfg-options \
#       model.roi_head.bbox_head.0.cls_predictor_cfg.prompt_learner.prompt_checkpoint=PROMPT.pth
_base_ = ['./det_ov_cascade.py', '../det/_base_/centernet2_proposals.py']
proposals = _base_.centernet2_proposals

model = dict(
    # an anchor-free head: none of RPNHead's arguments
    rpn_head=dict(
        _base_.centernet2_rpn_head,
        _delete_=True,
        in_channels=64,
        feat_channels=64,
        strides=[4, 8, 16, 32, 64],
        # Detic's CENTERNET.SOI at strides 8-128, halved with the strides
        regress_ranges=((0, 40), (32, 80), (64, 160), (128, 320),
                        (256, 100000000)),
        norm_cfg=dict(type='GN', num_groups=16, requires_grad=True)),
    roi_head=dict(mult_proposal_score=True),
    # det_ov_cascade.py's proposal counts, Detic's thresholds
    train_cfg=dict(rpn_proposal=dict(proposals, nms_pre=600,
                                     max_per_img=300)),
    test_cfg=dict(rpn=dict(proposals, nms_pre=300, max_per_img=100)))
