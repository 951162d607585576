# Copyright (c) pomp_mm contributors. All rights reserved.
"""mmdet's cascade RoI head with one text side for all its stages.

Detic's CenterNet2 scores the boxes of every cascade stage with the
zero-shot classifier. :class:`PompCascadeRoIHead` is mmdet's
``CascadeRoIHead`` (3 stages, a mask head per stage) whose bbox heads are
:class:`~pomp_mm.det.PompBBoxHead` s. Each stage keeps its own projection
(``fc_cls.linear``); the text side is built once, by the first stage: the
later stages' classifiers get the first stage's
:class:`~pomp_mm.core.PompPromptLearner` itself (not a copy), so there is
one CLIP text tower in memory, none of it three times in a checkpoint, one
prompt to load, and one text encoding per vocabulary
(:class:`~pomp_mm.det.PompZeroShotClassifier` shares its text features
between the classifiers of one learner).
"""
import copy
from typing import List

from mmdet.models.roi_heads import CascadeRoIHead
from mmdet.registry import MODELS
from mmdet.utils import MultiConfig
from mmengine.config import ConfigDict
from mmengine.model import ModuleList

from .zero_shot_classifier import PompZeroShotClassifier

TEXT_KEYS = ('prompt_learner', 'zs_weight_path')


def _plain(cfg) -> dict:
    """A deep, plain-dict copy of a (Config)dict."""
    cfg = copy.deepcopy(cfg)
    return cfg.to_dict() if isinstance(cfg, ConfigDict) else dict(cfg)


@MODELS.register_module()
class PompCascadeRoIHead(CascadeRoIHead):
    """``CascadeRoIHead`` whose stages score one vocabulary with one text
    side.

    Every stage's bbox head must have a ``PompZeroShotClassifier``. The
    first stage's ``cls_predictor_cfg`` names the text side
    (``prompt_learner`` or ``zs_weight_path``); a later stage gives none
    (it takes the first stage's) or the same one. Another CLIP, prompt or
    ``.npy`` in a later stage is an error, not a silent replacement.
    Arguments are ``CascadeRoIHead``'s.
    """

    def init_bbox_head(self, bbox_roi_extractor: MultiConfig,
                       bbox_head: MultiConfig) -> None:
        """Build the stages' extractors and bbox heads; the later stages'
        classifiers take the first stage's prompt learner."""
        n = self.num_stages
        extractors = bbox_roi_extractor if isinstance(
            bbox_roi_extractor, list) else [bbox_roi_extractor] * n
        heads = bbox_head if isinstance(bbox_head, list) else [bbox_head] * n
        if not len(extractors) == len(heads) == n:
            raise ValueError(
                f'PompCascadeRoIHead: num_stages={n} but '
                f'{len(extractors)} bbox_roi_extractor(s) and {len(heads)} '
                'bbox_head(s); expected one (or a list of num_stages) each')
        cfgs = [_plain(h) for h in heads]
        first = None
        for stage, cfg in enumerate(cfgs):
            pred = cfg.get('cls_predictor_cfg') or {}
            if pred.get('type') != 'PompZeroShotClassifier':
                raise ValueError(
                    f'PompCascadeRoIHead: bbox_head[{stage}].'
                    f'cls_predictor_cfg.type={pred.get("type")!r}; expected '
                    "'PompZeroShotClassifier' in every stage")
            text = {k: pred.get(k) for k in TEXT_KEYS}
            if first is None:
                first = text
            elif not any(v is not None for v in text.values()):
                pred.update(first)  # no text side of its own: stage 0's
            elif text != first:
                key = next(k for k in TEXT_KEYS if text[k] != first[k])
                raise ValueError(
                    f'PompCascadeRoIHead: bbox_head[{stage}].'
                    f'cls_predictor_cfg.{key} differs from bbox_head[0]\'s; '
                    'the stages share one text side: give every stage the '
                    'same one')
        self.bbox_roi_extractor = ModuleList()
        self.bbox_head = ModuleList()
        shared = None
        for extractor, cfg in zip(extractors, cfgs):
            if shared is not None:
                cfg['cls_predictor_cfg']['prompt_learner'] = shared
            self.bbox_roi_extractor.append(MODELS.build(extractor))
            head = MODELS.build(cfg)
            if not isinstance(getattr(head, 'fc_cls', None),
                              PompZeroShotClassifier):
                raise ValueError(
                    f'PompCascadeRoIHead: {type(head).__name__} did not '
                    'build its fc_cls from cls_predictor_cfg; expected '
                    "type='PompBBoxHead' in every stage")
            self.bbox_head.append(head)
            shared = head.fc_cls.prompt_learner

    def classifiers(self) -> List[PompZeroShotClassifier]:
        """The stages' classifiers, in stage order."""
        return [head.fc_cls for head in self.bbox_head]
