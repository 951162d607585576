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

What also differs from Detic, and is put back here: the box branch's
initial bias. The head's distances pass through ``clamp(min=0)`` (Detic:
``F.relu``), so a distance that is negative at every location gets no
gradient and never comes back. CenterNet2 starts the branch at
``bbox_pred.bias = 8`` (in stride units, ``CenterNetHead.__init__``), so
every distance starts positive; mmdet's head starts it at bias 0 and
weights of std 0.01 (``AnchorFreeHead``'s ``init_cfg``), half of the
distances below 0. In a mini-world run that way (seed 2, hand template and
POMP prompts) the right-hand distance died in the first epochs: above 0 at
0-1 % of the locations of the two finest levels over the 300 test images,
so nearly every proposal's right edge sat at its centre, the GIoU loss
stayed at 0.6 from epoch 3 (CoOp's seed-2 head: 0.21, all distances
alive) and the first 100 proposals missed 17-19 % of the objects (CoOp's:
2 %).
``reg_bias_init`` (Detic's 8 by default) sets the bias after mmdet's
initialisation; ``tests/test_det_centernet2.py`` checks that a new head's
distances are all positive.
"""
from typing import List, Optional

from mmdet.models.dense_heads import CenterNetUpdateHead
from mmdet.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class PompCenterNetRPNHead(CenterNetUpdateHead):
    """``CenterNetUpdateHead`` as a class-agnostic proposal network
    (``num_classes=1``) whose proposals are in pixels in training and
    test alike; configured as mmdet's head (see
    ``configs/det/_base_/centernet2_proposals.py``).

    Args:
        reg_bias_init: The box branch's initial bias, in stride units
            (CenterNet2's 8.0); None keeps mmdet's initialisation (0).
        *args, **kwargs: ``CenterNetUpdateHead``'s.
    """

    def __init__(self, *args, reg_bias_init: Optional[float] = 8.0,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reg_bias_init = reg_bias_init

    def init_weights(self) -> None:
        """mmdet's initialisation, then CenterNet2's box-branch bias (only
        on the first call: a second one must not undo training)."""
        first = not self.is_init
        super().init_weights()
        if first and self.reg_bias_init is not None:
            nn.init.constant_(self.conv_reg.bias, float(self.reg_bias_init))

    def predict_by_feat(self, cls_scores: List[Tensor],
                        bbox_preds: List[Tensor], *args, **kwargs):
        """mmdet's boxes from the head's outputs; in training mode the
        outputs are in stride units and are scaled here first."""
        if self.training:
            bbox_preds = [pred * stride
                          for pred, stride in zip(bbox_preds, self.strides)]
        return super().predict_by_feat(cls_scores, bbox_preds, *args,
                                       **kwargs)
