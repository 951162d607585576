"""mmpretrain adapters: CLIP classifiers for pre-training and transfer.

* :class:`PromptCLIPClassifier`: POMP / CoOp prompt training and zero-shot
  classification with a learned prompt.
* :class:`TemplateCLIPClassifier`: CLIP zero-shot with hand templates
  (one template or the 80-template ImageNet ensemble).
* :class:`CLIPImageBackbone`: the frozen image tower as an mmpretrain
  backbone, for a linear probe (``ImageClassifier`` + ``LinearClsHead``).
* :class:`CLIPRetriever` + :class:`MiniWorldCaptions`: zero-shot
  image-text retrieval (mmpretrain's ``RetrievalTestLoop`` and
  ``RetrievalRecall``).
"""
import pomp_mm.datasets  # noqa: F401  (registers the datasets)
from .linear_probe import CLIPImageBackbone
from .model import CLIPClassifierBase, PromptCLIPClassifier
from .zeroshot import TEMPLATE_SETS, TemplateCLIPClassifier, resolve_templates
from .retrieval import CLIPRetriever, MiniWorldCaptions
from . import zoo  # noqa: F401,E402  (registers the transfer-method zoo)

__all__ = [
    'CLIPClassifierBase', 'PromptCLIPClassifier', 'TemplateCLIPClassifier',
    'CLIPImageBackbone', 'TEMPLATE_SETS', 'resolve_templates',
    'CLIPRetriever', 'MiniWorldCaptions'
]
