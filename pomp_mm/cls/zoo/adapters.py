"""Feature adaptation and weight-space methods of the transfer-method zoo.

* :class:`CLIPAdapterClassifier` (:mod:`.clip_adapter`): CLIP-Adapter, a
  residual MLP on the image features.
* :class:`TipAdapterClassifier` + :class:`TipAdapterCacheHook`
  (:mod:`.tip_adapter`): Tip-Adapter's training-free few-shot cache and
  Tip-Adapter-F (learnable keys).
* :class:`WiSEFTClassifier` (:mod:`.wise_ft`): WiSE-FT, end-to-end
  fine-tuning interpolated with zero-shot weights.

All classify with CLIP's hand-template text classifier
(:class:`~.adapter_base.TemplateHeadClassifier`); see ``docs/zoo.md``.
"""
from .adapter_base import TemplateHeadClassifier
from .clip_adapter import CLIPAdapterClassifier
from .tip_adapter import TipAdapterCacheHook, TipAdapterClassifier
from .wise_ft import WiSEFTClassifier

__all__ = [
    'CLIPAdapterClassifier',
    'TemplateHeadClassifier',
    'TipAdapterCacheHook',
    'TipAdapterClassifier',
    'WiSEFTClassifier'
]
