"""MaPLe: coupled prompts in both towers of CLIP.

Khattak et al., "MaPLe: Multi-modal Prompt Learning", CVPR 2023. With
prompt depth J:

* **language prompts**: the learned context ``P_0`` (``n_ctx`` tokens) of
  the text prompt ``[SOS][P_0][name][.][EOT]``, and new tokens
  ``P_1 .. P_{J-1}`` that *replace* the hidden states at the context
  positions before text layers ``1 .. J-1`` (deep prompting);
* **vision prompts**: ``V_j = W_j P_j + b_j`` (one linear coupling function
  per layer, text width to vision width); ``V_0`` is appended to the image
  tokens after the positional embedding (before ``ln_pre``), and ``V_j``
  replaces those last ``n_ctx`` tokens before vision layer ``j < J``.
  Later layers carry the prompt tokens on; the class token is pooled.

Only the prompts and the coupling functions train; CLIP's blocks are run
one by one here (open_clip's own ``ResidualAttentionBlock`` modules, with
the text tower's causal mask), so nothing of CLIP is re-implemented.
``J = 0`` is plain CLIP with the learner's (frozen) initial prompt, e.g.
``"a photo of a {}."``.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from pomp_mm.cls.model import PromptCLIPClassifier, Vocabulary
from pomp_mm.core.clip import text_tail
from .prompt_common import train_targets

__all__ = ['MaPLeClassifier']


def _run_block(block: nn.Module, x: torch.Tensor, batch_first: bool,
               attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """One open_clip residual block on a batch-first (N, L, D) tensor."""
    if batch_first:
        return block(x, attn_mask=attn_mask)
    return block(x.transpose(0, 1), attn_mask=attn_mask).transpose(0, 1)


@MODELS.register_module()
class MaPLeClassifier(PromptCLIPClassifier):
    """Multi-modal prompt learning (MaPLe).

    Args:
        prompt_learner (dict): Config of
            :class:`~pomp_mm.core.PompPromptLearner` with its ``clip``; its
            ``ctx`` is the first-layer language prompt ``P_0`` (``ctx_init``
            words, or the POMP prompt through ``prompt_checkpoint``). The
            class token must be at the end and the context shared.
        prompt_depth (int): J, the number of layers (from the input) with
            prompts in both towers; at most the depth of the shallower
            tower. 0 trains nothing (plain CLIP). The paper uses 9 of
            ViT-B/16's 12 layers. Defaults to 9.
        deep_prompt_std (float): Std of the normal init of the deep
            language prompts ``P_1 .. P_{J-1}``. Defaults to 0.02.
        loss (dict, optional): Loss on the (B, C) logits over the training
            vocabulary. None is mmpretrain's ``CrossEntropyLoss``.
            Defaults to None.
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
                 prompt_depth: int = 9,
                 deep_prompt_std: float = 0.02,
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
        learner, model = self.prompt_learner, self.clip.model
        if learner.class_specific or learner.class_token_position != 'end':
            raise ValueError(
                'MaPLeClassifier needs a shared context before the class '
                'name (prompt_learner.class_specific=False, '
                "class_token_position='end')")
        visual = model.visual
        if visual is None or not hasattr(visual, 'class_embedding') or \
                getattr(visual, 'attn_pool', None) is not None or \
                getattr(visual, 'pool_type', 'tok') != 'tok':
            raise ValueError(
                f'MaPLeClassifier needs a ViT image tower pooled by its '
                f'class token; CLIP {self.clip.model_name!r} has '
                f'{type(visual).__name__}')
        depth = min(len(model.transformer.resblocks),
                    len(visual.transformer.resblocks))
        if not 0 <= prompt_depth <= depth:
            raise ValueError(
                f'prompt_depth={prompt_depth}: expected 0..{depth} (the '
                f'layers of CLIP {self.clip.model_name!r}\'s shallower tower)')
        self.prompt_depth = prompt_depth
        n_ctx, width = learner.n_ctx, self.clip.text_width
        vision_width = visual.conv1.out_channels
        if prompt_depth == 0:
            learner.ctx.requires_grad_(False)
        deep = torch.empty(max(prompt_depth - 1, 0), n_ctx, width,
                           dtype=learner.ctx.dtype)
        nn.init.normal_(deep, std=deep_prompt_std)
        self.text_prompts = nn.Parameter(  # P_1 .. P_{J-1}
            deep, requires_grad=prompt_depth > 1)
        self.couplings = nn.ModuleList(
            nn.Linear(width, vision_width) for _ in range(prompt_depth))

    # -- prompts --------------------------------------------------------------
    def language_prompts(self) -> list:
        """``[P_0, .., P_{J-1}]``, each (n_ctx, text width)."""
        learner = self.prompt_learner
        if self.prompt_depth and learner.n_ctx != self.text_prompts.shape[1]:
            raise RuntimeError(
                f'MaPLeClassifier: the prompt learner now has n_ctx='
                f'{learner.n_ctx} but the deep prompts were built for '
                f'{self.text_prompts.shape[1]}; load a prompt file with '
                'the same n_ctx')
        return [learner.ctx, *self.text_prompts.unbind(0)]

    def vision_prompts(self) -> list:
        """``[V_0, .., V_{J-1}]`` with ``V_j = W_j P_j + b_j``."""
        prompts = self.language_prompts()[:self.prompt_depth]
        return [f(p.float())
                for f, p in zip(self.couplings, prompts, strict=True)]

    # -- towers ---------------------------------------------------------------
    def text_features(self, class_idx: Optional[torch.Tensor] = None
                      ) -> torch.Tensor:
        """Normalised (n, D) text features with deep language prompts.

        Args:
            class_idx (Tensor, optional): Classes of the learner's
                vocabulary; None is all of them. Defaults to None.
        """
        learner = self.prompt_learner
        if self.prompt_depth <= 1:  # no deep prompts: CoOp's exact paths
            return learner(class_idx, normalize=True).float()
        if class_idx is None:
            class_idx = torch.arange(learner.num_classes,
                                     device=learner.token_ids.device)
        text = self.clip.model
        emb, eot = learner.prompt_embeddings(class_idx)
        length, dtype = emb.shape[1], self.clip.text_dtype
        x = emb.to(dtype) + text.positional_embedding[:length].to(dtype)
        mask = text.attn_mask[:length, :length]
        prompts = self.language_prompts()
        n, m = len(x), learner.n_ctx
        batch_first = getattr(text.transformer, 'batch_first', True)
        for i, block in enumerate(text.transformer.resblocks):
            if 1 <= i < self.prompt_depth:
                deep = prompts[i].to(dtype).unsqueeze(0).expand(n, -1, -1)
                x = torch.cat([x[:, :1], deep, x[:, 1 + m:]], dim=1)
            x = _run_block(block, x, batch_first, attn_mask=mask)
        return F.normalize(text_tail(text, x, eot).float(), dim=-1)

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised (B, D) image features with the coupled vision
        prompts."""
        if self.prompt_depth == 0:
            return self.clip.encode_image(images, normalize=True).float()
        self.clip.check_image_size(images)
        visual = self.clip.model.visual
        dtype = visual.conv1.weight.dtype
        x = visual.conv1(images.to(dtype))  # (B, width, grid, grid)
        x = x.flatten(2).transpose(1, 2)
        cls = visual.class_embedding.to(x.dtype).expand(len(x), 1, -1)
        x = torch.cat([cls, x], dim=1) + visual.positional_embedding.to(
            x.dtype)
        x = visual.patch_dropout(x)
        prompts = [p.to(dtype) for p in self.vision_prompts()]
        b, m = len(x), prompts[0].shape[0]
        x = visual.ln_pre(
            torch.cat([x, prompts[0].unsqueeze(0).expand(b, -1, -1)], dim=1))
        batch_first = getattr(visual.transformer, 'batch_first', True)
        for i, block in enumerate(visual.transformer.resblocks):
            if 1 <= i < self.prompt_depth:
                deep = prompts[i].unsqueeze(0).expand(b, -1, -1)
                x = torch.cat([x[:, :-m], deep], dim=1)
            x = _run_block(block, x, batch_first)
        pooled, _ = visual._pool(x)  # ln_post + class token
        if visual.proj is not None:
            pooled = pooled @ visual.proj
        return F.normalize(pooled.float(), dim=-1)

    # -- modes ----------------------------------------------------------------
    def loss(self, images: torch.Tensor, data_samples) -> dict:
        """Cross-entropy over the training vocabulary."""
        class_map = self._use_vocabulary('train')
        labels = train_targets(data_samples, len(images), class_map,
                               self.prompt_learner.num_classes, images.device)
        text = self.text_features()
        logits = self.clip.logit_scale * self.image_features(images) @ text.t()
        return dict(loss=self.loss_module(logits, labels))

    def class_embeddings(self) -> torch.Tensor:
        """Normalised text features of the test vocabulary, cached until
        the vocabulary, the prompts or the device change."""
        class_map = self._use_vocabulary('test')
        learner = self.prompt_learner
        ctx, deep = learner.ctx, self.text_prompts
        key = (learner.vocabulary_version, ctx._version, ctx.data_ptr(),
               deep._version, deep.data_ptr(), str(ctx.device),
               None if class_map is None else tuple(class_map.tolist()))

        @torch.no_grad()
        def compute():
            idx = torch.arange(learner.num_classes,
                               device=learner.token_ids.device)
            feats = torch.cat([self.text_features(i)
                               for i in idx.split(self.text_batch_size)])
            return feats if class_map is None else feats[class_map]

        return self._cached_classifier(key, compute)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C) scaled cosine logits over the test vocabulary."""
        weights = self.class_embeddings()
        return self.clip.logit_scale * self.image_features(images) @ \
            weights.t()
