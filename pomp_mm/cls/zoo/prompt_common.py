"""What the prompt-tuning methods of the zoo share.

* :func:`template_features` (:mod:`pomp_mm.core.templates`, imported
  here): hand-template CLIP text features (``"a photo of a {}."``), the
  anchor of KgCoOp and the classifier of visual prompting;
* :class:`TemplateFeatureCache`: those features cached per vocabulary;
* :func:`train_targets` (defined in :mod:`pomp_mm.cls.model`, imported
  here): a training batch's labels in the vocabulary the prompt learner
  holds.
"""
from typing import Dict, Sequence, Tuple

import torch

from pomp_mm.core import FrozenCLIP
from pomp_mm.core.templates import template_features

from ..model import train_targets  # noqa: F401 (its old home)


class TemplateFeatureCache:
    """Hand-template features of the last two vocabularies (train, test).

    Plain tensors (never saved in checkpoints); the key holds the device,
    so moving the model recomputes them.

    Args:
        templates (Sequence[str]): Format strings with one ``{}``.
        batch_size (int): Classes per text-tower batch. Defaults to 64.
    """

    def __init__(self, templates: Sequence[str], batch_size: int = 64) -> None:
        self.templates = list(templates)
        self.batch_size = batch_size
        self._cache: Dict[Tuple, torch.Tensor] = {}

    def __call__(self, clip: FrozenCLIP,
                 names: Sequence[str]) -> torch.Tensor:
        """(C, D) normalised features of ``names``, computed once."""
        device = clip.model.token_embedding.weight.device
        key = (tuple(names), str(device))
        if key not in self._cache:
            if len(self._cache) >= 2:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = template_features(clip, names, self.templates,
                                                 self.batch_size, device)
        return self._cache[key]
