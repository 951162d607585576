# Copyright (c) pomp_mm contributors. All rights reserved.
"""Open-vocabulary detection in mmdet with a POMP prompt.

Importing this package registers, in mmdet's registries:
``PompZeroShotClassifier``, ``PompBBoxHead``, ``PompSigmoidCELoss``,
``PompTwoStageDetector``, ``PompCascadeRoIHead``,
``PompCenterNetRPNHead`` (MODELS),
``ImageLabelDataset`` (DATASETS), ``PompOVCocoMetric`` (METRICS) and
``MultiSourceEpochSampler`` (DATA_SAMPLERS).
It also lets mmdet's ``LVISMetric`` run with lvis 0.5.3 on numpy 2
(:mod:`pomp_mm.compat.lvis`).
"""
import pomp_mm.core  # noqa: F401  (root registrations, loader fix)
from pomp_mm.compat.lvis import patch_lvis_eval

from .bbox_head import PompBBoxHead
from .cascade import PompCascadeRoIHead
from .centernet_rpn_head import PompCenterNetRPNHead
# __getattr__: ``MiniWorldCocoDataset`` from its old path (moved to the
# benchmark)
from .datasets import (ImageLabelDataset, __getattr__,  # noqa: F401
                       caption_tags, open_vocabulary_split, remove_rare,
                       write_cat_info)
from .detector import PompTwoStageDetector
from .losses import PompSigmoidCELoss, get_fed_loss_inds, load_class_frequency
from .ov_coco_metric import PompOVCocoMetric
from .samplers import MultiSourceEpochSampler
from .zero_shot_classifier import (BUILTIN_VOCABULARIES,
                                   PompZeroShotClassifier, resolve_vocabulary)

patch_lvis_eval()  # lvis 0.5.3 (LVISMetric) on numpy 2

__all__ = [
    'PompZeroShotClassifier', 'PompBBoxHead', 'PompSigmoidCELoss',
    'PompTwoStageDetector', 'PompCascadeRoIHead', 'PompCenterNetRPNHead',
    'ImageLabelDataset', 'PompOVCocoMetric', 'MultiSourceEpochSampler',
    'remove_rare', 'open_vocabulary_split', 'write_cat_info', 'caption_tags',
    'get_fed_loss_inds', 'load_class_frequency', 'resolve_vocabulary',
    'BUILTIN_VOCABULARIES'
]
