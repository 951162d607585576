# Copyright (c) pomp_mm contributors. All rights reserved.
"""mmdet's cascade RoI head with one text side for all its stages.

Detic's CenterNet2 scores the boxes of every cascade stage with the
zero-shot classifier. :class:`PompCascadeRoIHead` is mmdet's
``CascadeRoIHead`` (3 stages, a mask head per stage) whose bbox heads are
:class:`~pomp_mm.det.PompBBoxHead` s. Each stage keeps its own projection
(``fc_cls.linear``); the text side is built once, by the first stage: the
later stages' classifiers get the first stage's
:class:`~pomp_mm.core.PompPromptLearner` itself (not a copy), so there is
one CLIP text tower in memory, none of it three times in a checkpoint, one
prompt to load, and one text encoding per vocabulary
(:class:`~pomp_mm.det.PompZeroShotClassifier` shares its text features
between the classifiers of one learner).

Image-labelled images (Detic's max-size loss) are trained in every stage,
as Detic's ``CustomCascadeROIHeads`` does for ``ann_type='image'``:
:meth:`PompCascadeRoIHead.image_label_loss`.

With ``mult_proposal_score=True`` the test score is CenterNet2's
probabilistic one, as Detic computes it (``MULT_PROPOSAL_SCORE``): the mean
of the stages' sigmoid probabilities times the proposal's score (the
class-agnostic objectness of the first stage, e.g. a CenterNet heatmap
peak), square-rooted. mmdet's cascade averages the stages' logits instead.
"""
import copy
import itertools
from typing import Dict, List, Optional, Sequence

import torch
from mmdet.models.roi_heads import CascadeRoIHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import MultiConfig
from mmengine.config import ConfigDict
from mmengine.model import ModuleList

from .bbox_head import largest_box
from .zero_shot_classifier import PompZeroShotClassifier

TEXT_KEYS = ('prompt_learner', 'zs_weight_path')


def _plain(cfg) -> dict:
    """A deep, plain-dict copy of a (Config)dict."""
    cfg = copy.deepcopy(cfg)
    return cfg.to_dict() if isinstance(cfg, ConfigDict) else dict(cfg)


@MODELS.register_module()
class PompCascadeRoIHead(CascadeRoIHead):
    """``CascadeRoIHead`` whose stages score one vocabulary with one text
    side.

    Every stage's bbox head must have a ``PompZeroShotClassifier``. The
    first stage's ``cls_predictor_cfg`` names the text side
    (``prompt_learner`` or ``zs_weight_path``); a later stage gives none
    (it takes the first stage's) or the same one. Another CLIP, prompt or
    ``.npy`` in a later stage is an error, not a silent replacement.

    Args:
        mult_proposal_score (bool): At test time, score a box
            ``sqrt(mean_k sigmoid(stage k logits) * proposal score)``
            (CenterNet2 / Detic) instead of the sigmoid of the stages' mean
            logit (mmdet). The proposals must carry ``scores`` in [0, 1]
            (mmdet's RPN heads and ``CenterNetUpdateHead`` do). Defaults to
            False.
        *args, **kwargs: ``CascadeRoIHead``'s arguments.
    """

    def __init__(self, *args, mult_proposal_score: bool = False,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mult_proposal_score = mult_proposal_score
        # set only inside predict_bbox with mult_proposal_score
        self._stage_logits: Optional[List[torch.Tensor]] = None
        self._proposal_scores: Optional[List[torch.Tensor]] = None

    def init_bbox_head(self, bbox_roi_extractor: MultiConfig,
                       bbox_head: MultiConfig) -> None:
        """Build the stages' extractors and bbox heads; the later stages'
        classifiers take the first stage's prompt learner."""
        n = self.num_stages
        extractors = bbox_roi_extractor if isinstance(
            bbox_roi_extractor, list) else [bbox_roi_extractor] * n
        heads = bbox_head if isinstance(bbox_head, list) else [bbox_head] * n
        if not len(extractors) == len(heads) == n:
            raise ValueError(
                f'PompCascadeRoIHead: num_stages={n} but '
                f'{len(extractors)} bbox_roi_extractor(s) and {len(heads)} '
                'bbox_head(s); expected one (or a list of num_stages) each')
        cfgs = [_plain(h) for h in heads]
        first = None
        for stage, cfg in enumerate(cfgs):
            pred = cfg.get('cls_predictor_cfg') or {}
            if pred.get('type') != 'PompZeroShotClassifier':
                raise ValueError(
                    f'PompCascadeRoIHead: bbox_head[{stage}].'
                    f'cls_predictor_cfg.type={pred.get("type")!r}; expected '
                    "'PompZeroShotClassifier' in every stage")
            text = {k: pred.get(k) for k in TEXT_KEYS}
            if first is None:
                first = text
            elif not any(v is not None for v in text.values()):
                pred.update(first)  # no text side of its own: stage 0's
            elif text != first:
                key = next(k for k in TEXT_KEYS if text[k] != first[k])
                raise ValueError(
                    f'PompCascadeRoIHead: bbox_head[{stage}].'
                    f'cls_predictor_cfg.{key} differs from bbox_head[0]\'s; '
                    'the stages share one text side: give every stage the '
                    'same one')
        self.bbox_roi_extractor = ModuleList()
        self.bbox_head = ModuleList()
        shared = None
        for extractor, cfg in zip(extractors, cfgs):
            if shared is not None:
                cfg['cls_predictor_cfg']['prompt_learner'] = shared
            self.bbox_roi_extractor.append(MODELS.build(extractor))
            head = MODELS.build(cfg)
            if not isinstance(getattr(head, 'fc_cls', None),
                              PompZeroShotClassifier):
                raise ValueError(
                    f'PompCascadeRoIHead: {type(head).__name__} did not '
                    'build its fc_cls from cls_predictor_cfg; expected '
                    "type='PompBBoxHead' in every stage")
            self.bbox_head.append(head)
            shared = head.fc_cls.prompt_learner

    def image_label_loss(self, x: Sequence[torch.Tensor],
                         boxes: List[torch.Tensor],
                         image_labels: List[torch.Tensor],
                         batch_img_metas: List[dict]
                         ) -> Dict[str, torch.Tensor]:
        """Detic's max-size loss in every stage.

        Stage 0 scores the images' proposals; each later stage scores the
        boxes the stage before it regressed from them (no gradient through
        the boxes, as in Detic and in mmdet's cascade). In each stage the
        largest of its input boxes per image is trained towards the image
        labels (:meth:`PompBBoxHead.image_label_loss`); the stage's loss is
        weighted by ``stage_loss_weights`` like its box losses and named
        ``s{stage}.loss_image``. (Detic's cascade scales the stages'
        gradients by 1/3 instead; mmdet's weights keep one convention for
        every loss of this head.)

        Args:
            x (tuple[Tensor]): The images' FPN features.
            boxes (list[Tensor]): Per image, its (n_i, 4) proposals
                (n_i >= 1), in the input image's coordinates.
            image_labels (list[Tensor]): Per image, its class indices.
            batch_img_metas (list[dict]): Per image, its meta
                (``img_shape`` bounds the regressed boxes).

        Returns:
            dict[str, Tensor]: ``s{k}.loss_image`` for every stage ``k``.
        """
        losses = {}
        counts = [len(b) for b in boxes]
        if min(counts, default=1) < 1:
            raise ValueError('PompCascadeRoIHead.image_label_loss: an image '
                             'has no box; give it the whole image')
        for stage in range(self.num_stages):
            rois = bbox2roi(boxes)
            results = self._bbox_forward(stage, x, rois)
            head = self.bbox_head[stage]
            starts = [0] + list(itertools.accumulate(counts))[:-1]
            largest = [start + largest_box(b)
                       for start, b in zip(starts, boxes)]
            stage_loss = head.image_label_loss(
                results['cls_score'][largest], image_labels)
            weight = self.stage_loss_weights[stage]
            for name, value in stage_loss.items():
                losses[f's{stage}.{name}'] = value * weight
            if stage + 1 < self.num_stages:
                with torch.no_grad():  # class-agnostic: no label needed
                    preds = results['bbox_pred'].split(counts)
                    boxes = [
                        head.regress_by_class(b, None, p, meta).detach()
                        for b, p, meta in zip(boxes, preds, batch_img_metas)
                    ]
        return losses

    # -- CenterNet2's test score ---------------------------------------------
    def _bbox_forward(self, stage: int, x, rois: torch.Tensor) -> dict:
        """mmdet's; inside a ``mult_proposal_score`` prediction it also
        keeps each stage's class logits."""
        results = super()._bbox_forward(stage, x, rois)
        if self._stage_logits is not None:
            self._stage_logits.append(results['cls_score'])
        return results

    def predict_bbox(self, x, batch_img_metas: List[dict], rpn_results_list,
                     rcnn_test_cfg, rescale: bool = False, **kwargs):
        """mmdet's; with ``mult_proposal_score``, CenterNet2's scores."""
        if not self.mult_proposal_score:
            return super().predict_bbox(x, batch_img_metas, rpn_results_list,
                                        rcnn_test_cfg, rescale, **kwargs)
        for i, res in enumerate(rpn_results_list):
            if 'scores' not in res:
                raise ValueError(
                    'PompCascadeRoIHead(mult_proposal_score=True): the '
                    f'proposals of image {i} have no scores; use an RPN head '
                    'that scores its proposals, or mult_proposal_score=False')
        self._proposal_scores = [res.scores for res in rpn_results_list]
        self._stage_logits = []
        try:
            return super().predict_bbox(x, batch_img_metas, rpn_results_list,
                                        rcnn_test_cfg, rescale, **kwargs)
        finally:
            self._stage_logits = self._proposal_scores = None

    def _refine_roi(self, x, rois: torch.Tensor, batch_img_metas: List[dict],
                    num_proposals_per_img: Sequence[int], **kwargs) -> tuple:
        """mmdet's; with ``mult_proposal_score`` the per-image scores are
        replaced by CenterNet2's, given as their logits: the last head's
        activation (the sigmoid) turns them back into those scores, so
        mmdet's ``predict_by_feat``, score threshold and NMS apply as they
        are."""
        rois, cls_scores, bbox_preds = super()._refine_roi(
            x, rois, batch_img_metas, num_proposals_per_img, **kwargs)
        if self._stage_logits is None:
            return rois, cls_scores, bbox_preds
        probs = torch.stack([s.sigmoid() for s in self._stage_logits]).mean(0)
        eps = torch.finfo(probs.dtype).eps
        cls_scores = [
            torch.logit((p * ps.to(p)[:, None]).sqrt(), eps=eps)
            for p, ps in zip(probs.split(list(num_proposals_per_img)),
                             self._proposal_scores)]
        return rois, cls_scores, bbox_preds

    def classifiers(self) -> List[PompZeroShotClassifier]:
        """The stages' classifiers, in stage order."""
        return [head.fc_cls for head in self.bbox_head]
