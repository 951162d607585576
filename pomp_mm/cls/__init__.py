"""mmpretrain adapters: CLIP classifiers for pre-training and transfer.

* :class:`PromptCLIPClassifier`: POMP / CoOp prompt training and zero-shot
  classification with a learned prompt.
* :class:`TemplateCLIPClassifier`: CLIP zero-shot with hand templates
  (one template or the 80-template ImageNet ensemble).
* :class:`CLIPImageBackbone`: the frozen image tower as an mmpretrain
  backbone, for a linear probe (``ImageClassifier`` + ``LinearClsHead``).
* :class:`CLIPRetriever`: zero-shot image-text retrieval (mmpretrain's
  ``RetrievalTestLoop`` and ``RetrievalRecall``).
* :class:`~.visualization.PompClsVisualizationHook`: mmpretrain's
  visualization hook with RGB colours, legible labels and unique names.
* :mod:`.feature_cache`: the exact image-feature cache of a training run
  (``model.image_feature_cache``) and the zero-shot feature memo.
* :mod:`.datasets`: ImageNet-21K, class folders, the transfer datasets,
  few-shot subsets and the embedded default data.
"""
from . import datasets  # noqa: F401  (registers the datasets)
from .linear_probe import CLIPImageBackbone
from .model import CLIPClassifierBase, PromptCLIPClassifier
from .zeroshot import TEMPLATE_SETS, TemplateCLIPClassifier, resolve_templates
# __getattr__: ``MiniWorldCaptions`` from its old path (moved to the benchmark)
from .retrieval import CLIPRetriever, __getattr__  # noqa: F401
from . import zoo  # noqa: F401,E402  (registers the transfer-method zoo)
from . import visualization  # noqa: F401,E402  (PompClsVisualizationHook)
# ImageFeatureCacheHook / ImageFeatureCacheLoop (tools/cache_image_features.py)
from . import feature_cache  # noqa: F401,E402

__all__ = [
    'CLIPClassifierBase', 'PromptCLIPClassifier', 'TemplateCLIPClassifier',
    'CLIPImageBackbone', 'TEMPLATE_SETS', 'resolve_templates',
    'CLIPRetriever'
]

