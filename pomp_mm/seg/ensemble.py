"""ZSSeg's CLIP ensemble of mask-classifier and CLIP-crop probabilities.

At inference ZSSeg (and POMP's stage 2) combines the mask classifier's class
probabilities with those of CLIP on the masked crops, geometrically, with the
weight swapped between seen and unseen classes (``CLIP_ENSEMBLE_WEIGHT`` λ)::

    seen:   p = p_mask ** λ       * p_clip ** (1 - λ)
    unseen: p = p_mask ** (1 - λ) * p_clip ** λ

λ is 0.8 for COCO-Stuff, 0.7 for VOC, 0.5 for ADE20K and 0.2 for Pascal
Context-59 (:data:`pomp_mm.seg.splits.ENSEMBLE_LAMBDA`); a target dataset with
no seen classes (cross-dataset) takes the unseen formula for every class.
"""
from typing import Optional

import torch


def clip_ensemble(p_mask: torch.Tensor,
                  p_clip: torch.Tensor,
                  seen: Optional[torch.Tensor],
                  lam: float,
                  eps: float = 1e-8) -> torch.Tensor:
    """Geometric ensemble of mask-classifier and CLIP probabilities.

    Args:
        p_mask (Tensor): (..., C) mask-classifier probabilities.
        p_clip (Tensor): (..., C) CLIP crop probabilities.
        seen (Tensor, optional): (C,) bool, the seen (training) classes.
            ``None`` treats every class as unseen. Defaults to None.
        lam (float): The ensemble weight λ in [0, 1].
        eps (float): Floor of the probabilities before the power (ZSSeg
            computes ``p ** w`` directly; the floor only avoids 0 ** 0
            gradients). Defaults to 1e-8.

    Returns:
        Tensor: (..., C) ensembled scores (not renormalised, as in ZSSeg).
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f'clip_ensemble: lam={lam}; expected 0 <= lam <= 1')
    if p_mask.shape != p_clip.shape:
        raise ValueError(f'clip_ensemble: p_mask {tuple(p_mask.shape)} and '
                         f'p_clip {tuple(p_clip.shape)} differ in shape')
    num_classes = p_mask.shape[-1]
    if seen is None:
        seen = torch.zeros(num_classes, dtype=torch.bool,
                           device=p_mask.device)
    seen = seen.to(device=p_mask.device, dtype=torch.bool)
    if seen.shape != (num_classes, ):
        raise ValueError(f'clip_ensemble: seen has shape {tuple(seen.shape)}'
                         f', expected ({num_classes},)')
    w_mask = torch.where(seen, torch.full_like(seen, lam, dtype=p_mask.dtype),
                         torch.full_like(seen, 1 - lam, dtype=p_mask.dtype))
    return p_mask.clamp_min(eps).pow(w_mask) * p_clip.clamp_min(eps).pow(
        1 - w_mask)
