"""Open-vocabulary semantic segmentation in mmseg with the POMP prompt.

Importing this package registers, in mmseg's registries:

* ``PompTextEncoder`` (MODELS): the prompt's (N+1, C) scaled class embeddings,
  a drop-in ``text_encoder`` for ``MultimodalEncoderDecoder`` (SAN);
* ``PompMaskCLIP`` (MODELS): the training-free MaskCLIP-style zero-shot
  segmentor, which also fine-tunes the prompt on seen classes (ZSSeg stage 1);
* ``PompMaskFormerHead`` / ``PompZSSeg`` (MODELS): ZSSeg stage 2, a
  MaskFormer classifying queries with the frozen prompt + a no-object
  embedding, CLIP-ensembled at inference;
* ``HIoUMetric`` (METRICS): mIoU-seen, mIoU-unseen and hIoU.
"""
import pomp_mm.core  # noqa: F401  (root registrations, checkpoint fix)

from .ensemble import clip_ensemble
from .maskclip import PompMaskCLIP, clip_dense_features
from .metrics import HIoUMetric
from .splits import (COCO_STUFF_CLASSES, COCO_STUFF_SEEN, COCO_STUFF_UNSEEN,
                     ENSEMBLE_LAMBDA, IGNORE_INDEX, VOC_CLASSES, VOC_SEEN,
                     VOC_UNSEEN)
from .text_encoder import PompTextEncoder
from .zsseg import PompMaskFormerHead, PompZSSeg

__all__ = [
    'PompTextEncoder', 'PompMaskCLIP', 'clip_dense_features', 'HIoUMetric',
    'clip_ensemble', 'VOC_CLASSES', 'VOC_SEEN', 'VOC_UNSEEN',
    'COCO_STUFF_CLASSES', 'COCO_STUFF_SEEN', 'COCO_STUFF_UNSEEN',
    'ENSEMBLE_LAMBDA', 'IGNORE_INDEX', 'PompMaskFormerHead', 'PompZSSeg'
]
