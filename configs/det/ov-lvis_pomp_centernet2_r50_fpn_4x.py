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
_base_ = './ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x.py'

# Detic's CenterNet2 proposals: score > 1e-4, NMS at IoU 0.9
proposals = dict(
    score_thr=0.0001, nms=dict(type='nms', iou_threshold=0.9),
    min_bbox_size=0)

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
    rpn_head=dict(
        _delete_=True,  # an anchor-free head: none of RPNHead's arguments
        type='CenterNetUpdateHead',
        num_classes=1,
        in_channels=256,
        feat_channels=256,
        stacked_convs=4,
        strides=[8, 16, 32, 64, 128],
        # Detic's CENTERNET.SOI (mmdet's defaults)
        regress_ranges=((0, 80), (64, 160), (128, 320), (256, 640),
                        (512, 100000000)),
        hm_min_radius=4,
        hm_min_overlap=0.8,
        more_pos_thresh=0.2,
        more_pos_topk=9,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        # Detic: POS_WEIGHT = NEG_WEIGHT = 0.5
        loss_cls=dict(type='GaussianFocalLoss', pos_weight=0.5,
                      neg_weight=0.5, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0)),
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
