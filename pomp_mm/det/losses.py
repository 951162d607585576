# Copyright (c) pomp_mm contributors. All rights reserved.
"""Detic's sigmoid cross-entropy with the federated loss, as an mmdet loss.

The loss follows ``SeesawLoss``'s custom-channel protocol, so mmdet's own
bbox heads call it for training and use its sigmoid at test time.
"""
import json
import os.path as osp
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.registry import MODELS


def load_class_frequency(path: str, power: float = 0.5) -> torch.Tensor:
    """Federated-loss sampling weights ``image_count ** power`` per class.

    Args:
        path (str): An LVIS-format annotation json (its ``categories`` carry
            ``image_count``) or Detic's ``lvis_v1_train_cat_info.json`` (a
            list of ``{'id', 'image_count'}``). Classes are taken in
            ascending ``id`` order, as mmdet's LVIS datasets label them.
        power (float): Exponent on the image counts. Defaults to 0.5.

    Returns:
        Tensor: (C,) float weights.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'cat_freq_path {path}: file not found')
    with open(path, encoding='utf-8') as f:
        info = json.load(f)
    cats = info.get('categories') if isinstance(info, dict) else info
    if not isinstance(cats, list) or not cats:
        raise ValueError(f'cat_freq_path {path}: expected an LVIS json with '
                         '"categories" or a list of {"id", "image_count"}')
    missing = [c.get('id') for c in cats if 'image_count' not in c]
    if missing:
        raise ValueError(f'cat_freq_path {path}: category id {missing[0]} has '
                         'no "image_count" (expected LVIS-style categories)')
    cats = sorted(cats, key=lambda c: c['id'])
    counts = torch.tensor([float(c['image_count']) for c in cats])
    return counts**power


def get_fed_loss_inds(gt_classes: torch.Tensor,
                      num_sample_cats: int,
                      num_classes: int,
                      weight: Optional[torch.Tensor] = None,
                      generator: Optional[torch.Generator] = None
                      ) -> torch.Tensor:
    """Classes a federated loss scores: the batch's, plus sampled negatives.

    Detic's ``get_fed_loss_inds``: every class present in ``gt_classes``,
    then ``num_sample_cats - present`` more drawn without replacement with
    probability proportional to ``weight`` (uniform when None). Classes of
    weight 0 are never drawn; when the draw would take every class of
    positive weight left, they are taken without drawing (the same set,
    and the global RNG is left alone).

    Args:
        gt_classes (Tensor): (N,) labels, ``num_classes`` = background.
        num_sample_cats (int): How many classes to score in total.
        num_classes (int): C.
        weight (Tensor, optional): (C,) sampling weights. Defaults to None.
        generator (torch.Generator, optional): RNG. Defaults to None.

    Returns:
        Tensor: The selected class indices (may include ``num_classes``).
    """
    appeared = torch.unique(gt_classes)
    prob = appeared.new_ones(num_classes + 1).float()
    prob[-1] = 0
    if len(appeared) < num_sample_cats:
        if weight is not None:
            prob[:num_classes] = weight.to(prob).clone()
        prob[appeared] = 0
        left = int((prob > 0).sum())
        n_more = min(num_sample_cats - len(appeared), left)
        if 0 < n_more == left:  # every class left is drawn: no RNG used
            appeared = torch.cat([appeared, prob.nonzero()[:, 0]])
        elif n_more > 0:
            more = torch.multinomial(prob, n_more, replacement=False,
                                     generator=generator)
            appeared = torch.cat([appeared, more])
    return appeared


@MODELS.register_module()
class PompSigmoidCELoss(nn.Module):
    """Sigmoid BCE over C classes, background column dropped (Detic).

    ``cls_score`` is (N, C + 1) with the background logit last; the target
    of a background RoI is all zeros. The sum over RoIs and classes is
    divided by the number of RoIs. With ``use_fed_loss`` only the classes
    of :func:`get_fed_loss_inds` contribute (LVIS federated loss).

    Args:
        use_fed_loss (bool): Enable the federated loss. Defaults to False.
        cat_freq_path (str, optional): Class frequencies for the federated
            sampling (see :func:`load_class_frequency`); None samples
            uniformly. Defaults to None.
        fed_loss_num_cat (int): Classes scored per batch. Defaults to 50.
        fed_loss_freq_weight (float): Power on the image counts.
            Defaults to 0.5.
        loss_weight (float): Loss weight. Defaults to 1.0.
    """

    def __init__(self,
                 use_fed_loss: bool = False,
                 cat_freq_path: Optional[str] = None,
                 fed_loss_num_cat: int = 50,
                 fed_loss_freq_weight: float = 0.5,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.use_fed_loss = use_fed_loss
        self.fed_loss_num_cat = fed_loss_num_cat
        self.loss_weight = loss_weight
        freq = None
        if use_fed_loss and cat_freq_path is not None:
            freq = load_class_frequency(cat_freq_path, fed_loss_freq_weight)
        self.register_buffer('freq_weight', freq, persistent=False)
        self.custom_cls_channels = True
        self.custom_activation = True
        self.custom_accuracy = True

    def get_cls_channels(self, num_classes: int) -> int:
        """C classes + background."""
        return num_classes + 1

    def get_activation(self, cls_score: torch.Tensor) -> torch.Tensor:
        """Per-class sigmoid scores (the background column is ignored by
        mmdet's ``multiclass_nms``)."""
        return cls_score.sigmoid()

    def get_accuracy(self, cls_score: torch.Tensor,
                     labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Top-1 accuracy of the foreground RoIs over the C classes."""
        num_classes = cls_score.shape[1] - 1
        fg = (labels >= 0) & (labels < num_classes)
        if not fg.any():
            return dict(acc_fg=cls_score.new_tensor(100.))
        pred = cls_score[fg, :num_classes].argmax(dim=1)
        acc = (pred == labels[fg]).float().mean() * 100
        return dict(acc_fg=acc)

    def forward(self,
                cls_score: torch.Tensor,
                labels: torch.Tensor,
                label_weights: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """The loss.

        Args:
            cls_score (Tensor): (N, C + 1) logits.
            labels (Tensor): (N,) labels in ``[0, C]``, C = background.
            label_weights (Tensor, optional): (N,) per-RoI weights.
            avg_factor (float, optional): Unused (Detic divides by N).
            reduction_override (str, optional): Unused.

        Returns:
            Tensor: The scalar loss.
        """
        num_rois, num_classes = cls_score.shape[0], cls_score.shape[1] - 1
        if num_rois == 0:
            return cls_score.sum() * 0
        target = F.one_hot(labels.long(), num_classes + 1)[:, :num_classes]
        weight = cls_score.new_ones(num_rois, num_classes)
        if label_weights is not None:
            weight = weight * label_weights.view(-1, 1).to(weight)
        if self.use_fed_loss:
            freq = self.freq_weight
            if freq is not None and len(freq) != num_classes:
                raise ValueError(
                    f'cat_freq_path has {len(freq)} categories but the '
                    f'classifier scores {num_classes} classes')
            inds = get_fed_loss_inds(labels, self.fed_loss_num_cat,
                                     num_classes, freq)
            mask = cls_score.new_zeros(num_classes + 1)
            mask[inds] = 1
            weight = weight * mask[:num_classes].view(1, -1)
        loss = F.binary_cross_entropy_with_logits(
            cls_score[:, :-1], target.to(cls_score), reduction='none')
        return self.loss_weight * (loss * weight).sum() / num_rois
