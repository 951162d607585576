# CenterNet2's class-agnostic proposals, as Detic's CenterNet2 configs set
# them (CENTERNET.*; mmdet's port: projects/Detic_new): mmdet's
# CenterNetUpdateHead with one class on 5 FPN levels, and the proposal
# filter. Not a model on its own: the CenterNet2 configs put
# centernet2_rpn_head in place of the cascade's RPNHead (with their
# channels, strides and size ranges) and centernet2_proposals into their
# rpn_proposal / test rpn settings.
centernet2_rpn_head = dict(
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
    loss_cls=dict(type='GaussianFocalLoss', pos_weight=0.5, neg_weight=0.5,
                  loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=1.0))
# Detic's CenterNet2 proposals: score > 1e-4, NMS at IoU 0.9
centernet2_proposals = dict(
    score_thr=0.0001, nms=dict(type='nms', iou_threshold=0.9),
    min_bbox_size=0)
