# Copyright (c) pomp_mm contributors. All rights reserved.
"""An open-vocabulary bbox head: mmdet's Shared2FC head, POMP classifier."""
import contextlib
import copy
from typing import Dict, Iterator, List

import torch
import torch.nn.functional as F
from mmdet.models.roi_heads.bbox_heads import Shared2FCBBoxHead
from mmdet.registry import MODELS
from mmdet.utils import ConfigType

from .zero_shot_classifier import PompZeroShotClassifier


def largest_box(boxes: torch.Tensor) -> int:
    """Index of the largest of (n, 4) x1y1x2y2 boxes: the proposal
    Detic's max-size loss trains (:meth:`PompBBoxHead.image_label_loss`)."""
    return int(((boxes[:, 2] - boxes[:, 0]) *
                (boxes[:, 3] - boxes[:, 1])).argmax())


@MODELS.register_module()
class PompBBoxHead(Shared2FCBBoxHead):
    """``Shared2FCBBoxHead`` with a zero-shot classifier and sigmoid CE.

    Differences from the parent, all Detic's:

    * ``fc_cls`` is built once from ``cls_predictor_cfg`` (default
      :class:`PompZeroShotClassifier`), so a CLIP is not loaded twice;
    * the box regression is class-agnostic, so the vocabulary can change
      between training and test;
    * ``num_classes`` follows the classifier's current vocabulary;
    * the classification loss defaults to :class:`PompSigmoidCELoss`
      (sigmoid BCE, background dropped, optional federated loss), and the
      test scores are sigmoids;
    * :meth:`image_label_loss` is Detic's max-size loss for images that only
      carry image-level labels.

    Args:
        cls_predictor_cfg (dict): The classifier config; ``in_features`` and
            ``out_features`` are filled in here.
        num_classes (int): Size of the training vocabulary.
        reg_class_agnostic (bool): Must be True. Defaults to True.
        loss_cls (dict): Classification loss. Defaults to
            ``dict(type='PompSigmoidCELoss')``.
        image_loss_weight (float): Weight of the max-size image-label loss
            and of the caption loss. Defaults to 0.1 (Detic).
        caption_weight (float): Weight of the caption loss relative to the
            max-size loss (Detic's ``CAPTION_WEIGHT``). Defaults to 1.0.
        neg_cap_weight (float): Weight of the negative captions in the
            caption loss (Detic's ``NEG_CAP_WEIGHT``: its default 0.125,
            1.0 in its OV-COCO config). Defaults to 0.125.
        **kwargs: Other ``Shared2FCBBoxHead`` arguments.
    """

    def __init__(self,
                 cls_predictor_cfg: ConfigType,
                 num_classes: int,
                 reg_class_agnostic: bool = True,
                 loss_cls: ConfigType = dict(type='PompSigmoidCELoss'),
                 image_loss_weight: float = 0.1,
                 caption_weight: float = 1.0,
                 neg_cap_weight: float = 0.125,
                 **kwargs) -> None:
        if not reg_class_agnostic:
            raise ValueError(
                'PompBBoxHead: reg_class_agnostic=False cannot work with a '
                'vocabulary that changes at test time; set it to True')
        self._num_classes = num_classes
        # the parents build fc_cls twice; build a cheap Linear there
        super().__init__(
            cls_predictor_cfg=dict(type='Linear'),
            num_classes=num_classes,
            reg_class_agnostic=True,
            loss_cls=loss_cls,
            **kwargs)
        self.cls_predictor_cfg = cls_predictor_cfg
        # a built (shared) prompt learner is passed on, not copied
        cfg = {k: v if isinstance(v, torch.nn.Module) else copy.deepcopy(v)
               for k, v in cls_predictor_cfg.items()}
        cfg.update(in_features=self.cls_last_dim,
                   out_features=num_classes + 1)
        self.fc_cls = MODELS.build(cfg)
        self.image_loss_weight = image_loss_weight
        self.caption_weight = caption_weight
        self.neg_cap_weight = neg_cap_weight

    @property
    def num_classes(self) -> int:
        """Classes of the classifier's current vocabulary."""
        fc_cls = self._modules.get('fc_cls')
        if isinstance(fc_cls, PompZeroShotClassifier) and fc_cls.num_classes:
            return fc_cls.num_classes
        return self._num_classes

    @num_classes.setter
    def num_classes(self, value: int) -> None:
        self._num_classes = value

    def image_label_loss(
            self, cls_score: torch.Tensor,
            image_labels: List[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Detic's max-size loss on image-labelled images.

        For each image, the largest proposal (``cls_score`` row ``i``) is
        trained with a one-vs-all sigmoid BCE towards each of the image's
        labels in turn (background column dropped); the per-label losses
        are averaged per image, then over images.

        Args:
            cls_score (Tensor): (B, C + 1) logits of each image's largest
                proposal.
            image_labels (list[Tensor]): B tensors of class indices.

        Returns:
            dict[str, Tensor]: ``loss_image`` (weighted).
        """
        num_classes = cls_score.shape[1] - 1
        total = cls_score.sum() * 0
        for score, labels in zip(cls_score, image_labels):
            labels = torch.as_tensor(labels, device=score.device).long()
            if labels.numel() == 0:
                continue
            if int(labels.max()) >= num_classes or int(labels.min()) < 0:
                raise ValueError(
                    f'image label {labels.tolist()} out of range for '
                    f'{num_classes} classes')
            target = F.one_hot(labels, num_classes).to(score)  # (L, C)
            loss = F.binary_cross_entropy_with_logits(
                score[:num_classes].expand_as(target), target,
                reduction='none').sum(dim=1).mean()
            total = total + loss
        return dict(loss_image=self.image_loss_weight * total /
                    max(len(image_labels), 1))

    @contextlib.contextmanager
    def cls_features(self) -> Iterator[List[torch.Tensor]]:
        """The region features ``fc_cls`` receives inside the block.

        ``with head.cls_features() as feats: head(x)`` leaves in ``feats``
        the input of the classifier (after the shared fcs), with its graph,
        so that the same regions can be scored against other text, as the
        caption loss does, without a second pass through the head.
        """
        captured: List[torch.Tensor] = []
        handle = self.fc_cls.register_forward_hook(
            lambda module, args, out: captured.append(args[0]))
        try:
            yield captured
        finally:
            handle.remove()

    def caption_loss(self, region_feats: torch.Tensor,
                     captions: torch.Tensor,
                     targets: List[int]) -> Dict[str, torch.Tensor]:
        """Detic's caption loss on whole-image boxes.

        Each image's whole-image box (``region_feats`` row ``i``) is scored
        against every caption of the (global) batch with the classifier
        (its projection, temperature and bias; Detic's ``cls_score`` with
        the captions as classifier). Sigmoid BCE towards its own caption
        (``targets[i]``) and away from the others; per image, the positive
        term plus ``neg_cap_weight`` times the summed negative terms; the
        mean over images, times ``caption_weight`` and
        ``image_loss_weight`` (Detic adds it to the image loss, which it
        weights by ``IMAGE_LOSS_WEIGHT``).

        Args:
            region_feats (Tensor): (B, in_features) classifier inputs of the
                B whole-image boxes (see :meth:`cls_features`).
            captions (Tensor): (M, D) caption text features, M >= B.
            targets (list[int]): Per box, the row of its own caption.

        Returns:
            dict[str, Tensor]: ``loss_caption`` (weighted).
        """
        if not len(targets):
            return dict(loss_caption=region_feats.sum() * 0)
        logits = self.fc_cls(region_feats, classifier=captions)[:, :-1]
        target = torch.zeros_like(logits)
        target[torch.arange(len(targets)), torch.as_tensor(targets)] = 1.0
        bce = F.binary_cross_entropy_with_logits(logits, target,
                                                 reduction='none')
        per_image = (bce * target).sum(1) + \
            self.neg_cap_weight * (bce * (1 - target)).sum(1)
        weight = self.image_loss_weight * self.caption_weight
        return dict(loss_caption=weight * per_image.mean())
