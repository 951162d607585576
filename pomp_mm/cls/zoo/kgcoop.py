"""KgCoOp: CoOp that keeps the learned prompt near the hand template.

Yao et al., "Visual-Language Prompt Tuning with Knowledge-guided Context
Optimization", CVPR 2023. The prompt is CoOp's (one shared context learned
with cross-entropy over the base classes), plus a regulariser that keeps
each class's learned text feature ``w_i`` close to the feature of the hand
prompt ``w_i^clip`` (``"a photo of a {}."``):

    L = CE + λ · (1/C) Σ_i ||w_i - w_i^clip||²,   λ = 8,

both features L2-normalised. (The official code computes
``1 - mean_i cos(w_i, w_i^clip)``, which is half of the mean squared
distance above, so its weight 8 is λ = 4 here.) Prediction is CoOp's.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from pomp_mm.cls.model import PromptCLIPClassifier, Vocabulary
from pomp_mm.cls.zeroshot import resolve_templates
from .prompt_common import TemplateFeatureCache, train_targets

__all__ = ['KgCoOpClassifier']


@MODELS.register_module()
class KgCoOpClassifier(PromptCLIPClassifier):
    """CoOp with knowledge-guided (hand-template) regularisation.

    Args:
        prompt_learner (dict): Config of
            :class:`~pomp_mm.core.PompPromptLearner` with its ``clip``;
            ``ctx_init`` or ``prompt_checkpoint`` (the POMP prompt) set the
            starting context.
        kg_weight (float): λ, the weight of the mean squared distance
            between learned and hand-template class features. 0 is CoOp.
            Defaults to 8.0.
        templates (str | Sequence[str]): The hand prompt(s) ``w^clip`` is
            built from (see :func:`~pomp_mm.cls.zeroshot.resolve_templates`).
            Defaults to ``'a photo of a {}.'``.
        loss (dict, optional): The classification loss on the scaled
            cosine logits over the training vocabulary. None is mmpretrain's
            ``CrossEntropyLoss``. Defaults to None.
        train_vocabulary (str | Sequence[str], optional): Training class
            names or file; else set by ``VocabularyHook``. Defaults to None.
        test_vocabulary (str | Sequence[str], optional): Test class names
            or file; else set by ``VocabularyHook``. Defaults to None.
        text_batch_size (int): Classes per text-tower batch at test time.
            Defaults to 256.
        data_preprocessor (dict, optional): See
            :class:`~pomp_mm.cls.model.CLIPClassifierBase`.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 prompt_learner: dict,
                 kg_weight: float = 8.0,
                 templates: Union[str, Sequence[str]] = 'a photo of a {}.',
                 loss: Optional[dict] = None,
                 train_vocabulary: Vocabulary = None,
                 test_vocabulary: Vocabulary = None,
                 text_batch_size: int = 256,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(prompt_learner,
                         loss=loss or dict(type='CrossEntropyLoss'),
                         train_vocabulary=train_vocabulary,
                         test_vocabulary=test_vocabulary,
                         text_batch_size=text_batch_size,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if kg_weight < 0:
            raise ValueError(f'kg_weight={kg_weight}: expected >= 0')
        self.kg_weight = float(kg_weight)
        self.hand_features = TemplateFeatureCache(resolve_templates(templates))

    def loss(self, images: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """``loss_ce`` (CoOp) and ``loss_kg`` (λ-weighted distance)."""
        class_map = self._use_vocabulary('train')
        learner = self.prompt_learner
        labels = train_targets(data_samples, len(images), class_map,
                               learner.num_classes, images.device)
        text = learner(normalize=True).float()  # (C, D), every class
        logits = self.clip.logit_scale * self.extract_feat(images) @ text.t()
        hand = self.hand_features(self.clip, learner.class_names)
        distance = (text - hand).pow(2).sum(dim=-1).mean()
        return dict(loss_ce=self.loss_module(logits, labels),
                    loss_kg=self.kg_weight * distance)
