"""CoCoOp: a prompt conditioned on each image.

Zhou et al., "Conditional Prompt Learning for Vision-Language Models",
CVPR 2022. A light meta-net ``Linear(D, D/16) - ReLU - Linear(D/16,
width)`` maps the normalised image feature ``x`` to a token ``π(x)`` that is
added to every context vector, so each image ``i`` classifies with its own
prompts ``[SOS][ctx_1 + π_i] .. [ctx_M + π_i][name][.][EOT]``:

    logit_ic = s · <x_i, g(ctx + π_i, c)>,   both L2-normalised,

where ``g`` is CLIP's text tower and ``s`` its logit scale. A batch of B
images over C classes therefore runs B x C prompts through the text tower
(the paper trains with batch size 1 for this reason). Here each image's C
prompts go through the learner's exact shared-prefix path when it applies
(the ``[SOS][ctx + π_i]`` prefix is computed once per image), so the cost is
B prefixes plus B x C short class-name suffixes. Memory for backward grows
with B x C; on large vocabularies keep ``B`` small or set
``grad_checkpoint=True`` (each image's text pass is recomputed in backward,
so only one image's activations are alive at a time).
"""
from collections import OrderedDict
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch.utils.checkpoint import checkpoint

from pomp_mm.cls.model import PromptCLIPClassifier, Vocabulary
from .prompt_common import train_targets

__all__ = ['CoCoOpClassifier']


@MODELS.register_module()
class CoCoOpClassifier(PromptCLIPClassifier):
    """Conditional context optimisation (CoCoOp).

    Args:
        prompt_learner (dict): Config of
            :class:`~pomp_mm.core.PompPromptLearner` with its ``clip``. The
            paper starts from ``ctx_init='a photo of a'``;
            ``prompt_checkpoint`` starts from the POMP prompt instead. A
            class-specific context is not supported.
        meta_net_reduction (int): The meta-net's hidden width is
            ``embed_dim // meta_net_reduction`` (at least 1).
            Defaults to 16.
        loss (dict, optional): Loss on the (B, C) logits over the training
            vocabulary. None is mmpretrain's ``CrossEntropyLoss``.
            Defaults to None.
        train_vocabulary (str | Sequence[str], optional): Training class
            names or file; else set by ``VocabularyHook``. Defaults to None.
        test_vocabulary (str | Sequence[str], optional): Test class names
            or file; else set by ``VocabularyHook``. Defaults to None.
        text_batch_size (int): Classes per text-tower call at test time
            (each image encodes the whole vocabulary). Defaults to 256.
        grad_checkpoint (bool): In training, recompute each image's text
            features in backward instead of keeping the activations of all
            B x C prompts. Same result, for one more text forward pass.
            Defaults to False.
        data_preprocessor (dict, optional): See
            :class:`~pomp_mm.cls.model.CLIPClassifierBase`.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 prompt_learner: dict,
                 meta_net_reduction: int = 16,
                 loss: Optional[dict] = None,
                 train_vocabulary: Vocabulary = None,
                 test_vocabulary: Vocabulary = None,
                 text_batch_size: int = 256,
                 grad_checkpoint: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(prompt_learner,
                         loss=loss or dict(type='CrossEntropyLoss'),
                         train_vocabulary=train_vocabulary,
                         test_vocabulary=test_vocabulary,
                         text_batch_size=text_batch_size,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if self.prompt_learner.class_specific:
            raise ValueError('CoCoOpClassifier: prompt_learner.class_specific'
                             '=True is not supported (CoCoOp shifts one '
                             'shared context per image)')
        if meta_net_reduction < 1:
            raise ValueError(f'meta_net_reduction={meta_net_reduction}: '
                             'expected >= 1')
        self.grad_checkpoint = grad_checkpoint
        dim, width = self.clip.embed_dim, self.clip.text_width
        hidden = max(1, dim // meta_net_reduction)
        self.meta_net = nn.Sequential(OrderedDict([
            ('linear1', nn.Linear(dim, hidden)),
            ('relu', nn.ReLU(inplace=True)),
            ('linear2', nn.Linear(hidden, width)),
        ]))

    def image_contexts(self, image_feats: torch.Tensor) -> torch.Tensor:
        """Each image's context ``ctx + π(x)``.

        Args:
            image_feats (Tensor): (B, D) normalised image features.

        Returns:
            Tensor: (B, n_ctx, width) contexts.
        """
        ctx = self.prompt_learner.ctx
        shift = self.meta_net(image_feats.to(self.meta_net.linear1.weight))
        return ctx.unsqueeze(0) + shift.unsqueeze(1).to(ctx.dtype)

    def conditional_logits(self,
                           image_feats: torch.Tensor,
                           chunk: Optional[int] = None) -> torch.Tensor:
        """(B, C) logits over the learner's vocabulary, one prompt set per
        image.

        Args:
            image_feats (Tensor): (B, D) normalised image features.
            chunk (int, optional): Classes per text-tower call; None runs
                the whole vocabulary at once. Defaults to None.

        Returns:
            Tensor: (B, C) float32 logits.
        """
        learner = self.prompt_learner
        contexts = self.image_contexts(image_feats)
        classes = torch.arange(learner.num_classes,
                               device=learner.token_ids.device)
        parts = classes.split(chunk) if chunk else [classes]

        def image_logits(feat: torch.Tensor,
                         ctx: torch.Tensor) -> torch.Tensor:
            text = torch.cat([learner(idx, normalize=True, ctx=ctx)
                              for idx in parts]).float()
            return text @ feat.float()

        recompute = self.grad_checkpoint and torch.is_grad_enabled() and \
            contexts.requires_grad
        rows = [checkpoint(image_logits, feat, ctx, use_reentrant=False)
                if recompute else image_logits(feat, ctx)
                for feat, ctx in zip(image_feats, contexts, strict=True)]
        return self.clip.logit_scale * torch.stack(rows)

    def loss(self, images: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Cross-entropy over the training vocabulary."""
        class_map = self._use_vocabulary('train')
        labels = train_targets(data_samples, len(images), class_map,
                               self.prompt_learner.num_classes, images.device)
        logits = self.conditional_logits(self.extract_feat(images))
        return dict(loss=self.loss_module(logits, labels))

    def class_embeddings(self) -> torch.Tensor:
        """Not defined: CoCoOp's class features depend on the image."""
        raise NotImplementedError(
            'CoCoOpClassifier has no fixed class features (each image has '
            'its own prompts); use logits(images)')

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C) scaled cosine logits over the test vocabulary."""
        class_map = self._use_vocabulary('test')
        logits = self.conditional_logits(self.extract_feat(images),
                                         chunk=self.text_batch_size)
        return logits if class_map is None else logits[:, class_map]
