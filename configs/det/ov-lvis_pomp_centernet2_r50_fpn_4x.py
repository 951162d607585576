# Open-vocabulary LVIS, box-supervised, with CenterNet2's proposals: the
# cascade + masks of ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x.py (LVIS
# base boxes and masks, federated loss, 640 px LSJ, AdamW 2e-4 at batch 64,
# 3 stages that all classify with the prompt's text features, a
# class-agnostic mask head) whose proposals come from a class-agnostic
# CenterNet head (mmdet's CenterNetUpdateHead, num_classes=1) on P3-P7, as
# Detic's BoxSup-C2_Lbase_CLIP_R5021k_640b64_4x does (mmdet's port:
# projects/Detic_new, detic_centernet2_r50_fpn_4x_lvis-base_boxsup.py). The
# test score is CenterNet2's probabilistic one (mult_proposal_score): the
# square root of the stages' mean probability times the proposal score.
# What differs from Detic is in docs/detection.md.
_base_ = [
    './ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x.py',
    './_base_/centernet2_proposals.py'
]
proposals = _base_.centernet2_proposals

model = dict(
    # C3-C5 into P3-P7 (Detic: FPN on res3-res5 plus two extra levels)
    backbone=dict(out_indices=(1, 2, 3)),
    neck=dict(
        in_channels=[512, 1024, 2048],
        out_channels=256,
        start_level=0,
        add_extra_convs='on_output',
        relu_before_extra_convs=True,
        num_outs=5),
    # an anchor-free head: none of RPNHead's arguments
    rpn_head=dict(_delete_=True, **_base_.centernet2_rpn_head),
    roi_head=dict(
        mult_proposal_score=True,
        # P3-P5 for the RoIs (Detic: ROI_HEADS.IN_FEATURES res3-res5)
        bbox_roi_extractor=dict(featmap_strides=[8, 16, 32],
                                finest_scale=112),
        mask_roi_extractor=dict(featmap_strides=[8, 16, 32],
                                finest_scale=112)),
    # Detic's CenterNet2 proposals: 4000 -> 2000 per image in training,
    # 1000 -> 256 at test
    train_cfg=dict(
        rpn_proposal=dict(proposals, nms_pre=4000, max_per_img=2000)),
    test_cfg=dict(rpn=dict(proposals, nms_pre=1000, max_per_img=256)))
