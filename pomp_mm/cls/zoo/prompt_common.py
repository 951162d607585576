"""What the prompt-tuning methods of the zoo share.

* :func:`template_features`: hand-template CLIP text features
  (``"a photo of a {}."``), the anchor of KgCoOp and the classifier of
  visual prompting;
* :class:`TemplateFeatureCache`: those features cached per vocabulary;
* :func:`train_targets` (defined in :mod:`pomp_mm.cls.model`, imported
  here): a training batch's labels in the vocabulary the prompt learner
  holds.
"""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F
from open_clip import build_zero_shot_classifier

from pomp_mm.core import FrozenCLIP
from pomp_mm.core.vocabulary import clean_classname

from ..model import train_targets  # noqa: F401 (its old home)


@torch.no_grad()
def template_features(clip: FrozenCLIP,
                      names: Sequence[str],
                      templates: Sequence[str],
                      batch_size: int = 64) -> torch.Tensor:
    """Normalised hand-template text features of class names.

    Each template is filled with each name, the features are normalised,
    averaged over templates and renormalised (open_clip's
    ``build_zero_shot_classifier``, as CLIP's paper does).

    Args:
        clip (FrozenCLIP): The frozen CLIP.
        names (Sequence[str]): Class names (``_`` is read as a space).
        templates (Sequence[str]): Format strings with one ``{}``.
        batch_size (int): Classes per text-tower batch. Defaults to 64.

    Returns:
        Tensor: (C, embed_dim) float32 features on CLIP's device.
    """
    device = clip.model.token_embedding.weight.device
    weights = build_zero_shot_classifier(
        clip.model, clip.tokenizer, [clean_classname(n) for n in names],
        list(templates), num_classes_per_batch=batch_size, device=device,
        use_tqdm=False)
    return F.normalize(weights.t().float(), dim=-1).contiguous()


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
                                                 self.batch_size)
        return self._cache[key]
