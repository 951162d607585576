# Copyright (c) pomp_mm contributors. All rights reserved.
"""CenterNet2's proposal head: mmdet's ``CenterNetUpdateHead`` whose
proposals are in pixels in training too.

What breaks: ``CenterNetUpdateHead.forward_single`` returns box distances
in units of the level's stride while training (its loss compares them
with targets divided by the stride) and multiplies them by the stride only
in eval mode. mmdet uses the head as a one-stage detector, which predicts
only in eval mode. As a proposal network it also predicts while training
(``loss_and_predict`` for the RoI heads' proposals, ``predict`` for the
max-size loss's largest box), and there its boxes came out 8-128 times too
small: no proposal overlapped an object, so the cascade trained on the
ground-truth boxes alone (``add_gt_as_proposals``) and its box regression
learned nothing (every stage's ``loss_bbox`` was 0), and the max-size loss
took a box of a few pixels.

What this head does: :meth:`predict_by_feat` multiplies the distances by
the strides when the head is in training mode, so training and test
proposals are the same boxes (``tests/test_det_centernet2.py`` checks
that); the loss is mmdet's, unchanged.
"""
from typing import List

from mmdet.models.dense_heads import CenterNetUpdateHead
from mmdet.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class PompCenterNetRPNHead(CenterNetUpdateHead):
    """``CenterNetUpdateHead`` as a class-agnostic proposal network
    (``num_classes=1``) whose proposals are in pixels in training and
    test alike; configured as mmdet's head (see
    ``configs/det/_base_/centernet2_proposals.py``)."""

    def predict_by_feat(self, cls_scores: List[Tensor],
                        bbox_preds: List[Tensor], *args, **kwargs):
        """mmdet's boxes from the head's outputs; in training mode the
        outputs are in stride units and are scaled here first."""
        if self.training:
            bbox_preds = [pred * stride
                          for pred, stride in zip(bbox_preds, self.strides)]
        return super().predict_by_feat(cls_scores, bbox_preds, *args,
                                       **kwargs)
