# Copyright (c) pomp_mm contributors. All rights reserved.
"""Linear probe on frozen CLIP image features (CLIP's linear-probe baseline).

The probe is an ordinary mmpretrain ``ImageClassifier``: this frozen CLIP
image tower as its backbone and mmpretrain's ``LinearClsHead`` on the
(L2-normalised) image features, trained by the runner with cross-entropy on
the target dataset's few-shot training split and scored by ``Accuracy``::

    model = dict(
        type='ImageClassifier',
        backbone=dict(type='CLIPImageBackbone',
                      clip=dict(type='FrozenCLIP', model_name='ViT-B-16',
                                checkpoint='checkpoints/ViT-B-16.pt')),
        head=dict(type='LinearClsHead', num_classes=37, in_channels=512))

Only the head trains; the checkpoint holds the head (CLIP is rebuilt from
its file), so ``tools/test.py CONFIG epoch_N.pth`` evaluates it.
"""
from typing import Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from pomp_mm.core import FrozenCLIP


@MODELS.register_module()
class CLIPImageBackbone(nn.Module):
    """The frozen image tower of a CLIP as an mmpretrain backbone.

    Args:
        clip (dict | FrozenCLIP): The frozen CLIP (or its config).
        normalize (bool): L2-normalise the features, as CLIP's zero-shot
            classifier sees them. Defaults to True.
        scale (float): Multiply the (normalised) features by this, so that
            a linear head starting near zero reaches confident logits in few
            steps. Defaults to 1.
    """

    def __init__(self,
                 clip: Union[dict, FrozenCLIP],
                 normalize: bool = True,
                 scale: float = 1.0) -> None:
        super().__init__()
        self.clip = MODELS.build(clip) if isinstance(clip, dict) else clip
        self.normalize = normalize
        self.scale = float(scale)

    @property
    def out_channels(self) -> int:
        """The feature width (CLIP's embed dim)."""
        return int(self.clip.embed_dim)

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor]:
        """``(features,)``: (B, embed_dim) frozen image features, no grad."""
        with torch.no_grad():  # encode_image checks the input size
            feats = self.clip.encode_image(images).float()
        if self.normalize:
            feats = F.normalize(feats, dim=-1)
        return (feats * self.scale, )
