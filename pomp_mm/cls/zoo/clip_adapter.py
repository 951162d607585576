"""CLIP-Adapter (Gao et al., 2021, "CLIP-Adapter: Better Vision-Language
Models with Feature Adapters"), the visual-adapter variant.

A small bottleneck MLP ``A`` reads CLIP's image feature ``f`` and is mixed
back into it with a residual ratio ``alpha``::

    A(f)  = ReLU(ReLU(f W1) W2),      W1: D x D/r,  W2: D/r x D  (no bias)
    f'    = alpha * A(f) + (1 - alpha) * f
    logit = logit_scale * normalize(f') . normalize(t_c)

where ``t_c`` are CLIP's hand-template text features (``"a photo of a
{}."``). Only ``A`` trains, with cross-entropy on the few-shot base classes;
CLIP stays frozen. As the official code, the adapter reads the unnormalised
image feature, has no biases and uses ``r = 4``, ``alpha = 0.2``.
"""
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn

from pomp_mm.core import FrozenCLIP

from .adapter_base import TemplateHeadClassifier, Vocabulary

__all__ = ['CLIPAdapterClassifier']


@MODELS.register_module()
class CLIPAdapterClassifier(TemplateHeadClassifier):
    """Frozen CLIP + a residual MLP adapter on the image features.

    Args:
        clip (dict | FrozenCLIP): The frozen CLIP (or its config).
        alpha (float): Residual ratio: the weight of the adapted feature,
            in [0, 1]. Defaults to 0.2.
        reduction (int): Bottleneck reduction ``r`` (hidden width
            ``D // r``). Defaults to 4.
        templates (str | Sequence[str]): The hand template(s) of the text
            classifier. Defaults to ``'a photo of a {}.'``.
        vocabulary (str | Sequence[str], optional): Test class names; else
            set by ``VocabularyHook``. Defaults to None.
        train_vocabulary (str | Sequence[str], optional): Training class
            names; else set by ``VocabularyHook``. Defaults to None.
        text_batch_size (int): Classes per text-tower batch. Defaults to 64.
        data_preprocessor (dict, optional): See
            :class:`~pomp_mm.cls.model.CLIPClassifierBase`.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 clip: dict | FrozenCLIP,
                 alpha: float = 0.2,
                 reduction: int = 4,
                 templates: str | Sequence[str] = 'a photo of a {}.',
                 vocabulary: Vocabulary = None,
                 train_vocabulary: Vocabulary = None,
                 text_batch_size: int = 64,
                 data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(clip=clip,
                         templates=templates,
                         vocabulary=vocabulary,
                         train_vocabulary=train_vocabulary,
                         text_batch_size=text_batch_size,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha={alpha}: expected a residual ratio in '
                             '[0, 1]')
        dim = self.clip.embed_dim
        if reduction < 1 or dim // reduction < 1:
            raise ValueError(f'reduction={reduction}: expected an integer in '
                             f'[1, {dim}] (the CLIP embed dim is {dim})')
        self.alpha = float(alpha)
        self.adapter = nn.Sequential(
            nn.Linear(dim, dim // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(dim // reduction, dim, bias=False),
            nn.ReLU(inplace=True))

    def adapted_features(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised ``alpha * A(f) + (1 - alpha) * f`` of a batch."""
        with torch.no_grad():
            feats = self.clip.encode_image(images).float()
        feats = self.alpha * self.adapter(feats) + (1 - self.alpha) * feats
        return F.normalize(feats, dim=-1)

    def logits(self, images: torch.Tensor,
               mode: str = 'test') -> torch.Tensor:
        """(B, C) scaled cosine logits of the adapted image features."""
        weights = self.class_embeddings(mode)
        return self.clip.logit_scale * self.adapted_features(images) \
            @ weights.t()
