# CenterNet2's class-agnostic proposals, as Detic's CenterNet2 configs set
# them (CENTERNET.*; mmdet's port: projects/Detic_new): mmdet's
# CenterNetUpdateHead (as PompCenterNetRPNHead, whose proposals are in
# pixels in training too) with one class on 5 FPN levels, and the proposal
# filter. Not a model on its own: the CenterNet2 configs put
# centernet2_rpn_head in place of the cascade's RPNHead (with their
# channels, strides and size ranges) and centernet2_proposals into their
# rpn_proposal / test rpn settings; the LVIS ones take all of it as
# centernet2_on_cascade, merged into the cascade's model.
centernet2_rpn_head = dict(
    # mmdet's CenterNetUpdateHead, its training proposals in pixels
    type='PompCenterNetRPNHead',
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
    loss_cls=dict(type='GaussianFocalLoss', pos_weight=0.5, neg_weight=0.5,
                  loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
    # CenterNet2's initial box bias (bbox_pred.bias = 8, stride units): every
    # distance starts above the clamp at 0 (mmdet's head: bias 0, and a
    # distance below 0 everywhere gets no gradient again)
    reg_bias_init=8.0)
# Detic's CenterNet2 proposals: score > 1e-4, NMS at IoU 0.9
centernet2_proposals = dict(
    score_thr=0.0001, nms=dict(type='nms', iou_threshold=0.9),
    min_bbox_size=0)

# The cascade of ./pomp_cascade-mask-rcnn_fpn.py on these proposals, as
# Detic's CenterNet2 builds it for a ResNet: a model patch (merged into the
# cascade's model by `model = _base_.centernet2_on_cascade`).
centernet2_on_cascade = dict(
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
    rpn_head=dict(_delete_=True, **centernet2_rpn_head),
    roi_head=dict(
        # CenterNet2's probabilistic test score
        mult_proposal_score=True,
        # P3-P5 for the RoIs (Detic: ROI_HEADS.IN_FEATURES res3-res5)
        bbox_roi_extractor=dict(featmap_strides=[8, 16, 32],
                                finest_scale=112),
        mask_roi_extractor=dict(featmap_strides=[8, 16, 32],
                                finest_scale=112)),
    # Detic's CenterNet2 proposals: 4000 -> 2000 per image in training,
    # 1000 -> 256 at test
    train_cfg=dict(
        rpn_proposal=dict(centernet2_proposals, nms_pre=4000,
                          max_per_img=2000)),
    test_cfg=dict(
        rpn=dict(centernet2_proposals, nms_pre=1000, max_per_img=256)))
