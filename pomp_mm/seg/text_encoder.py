"""The POMP prompt as mmseg's text encoder (drop-in for ``CLIPTextEncoder``).

mmseg's :class:`~mmseg.models.MultimodalEncoderDecoder` (SAN) calls
``text_encoder()`` with no argument and expects the (N+1, C) class embeddings,
L2-normalised and multiplied by CLIP's temperature, the last row being a
learnable background / no-object embedding. :class:`PompTextEncoder` returns
exactly that, but from the prompt ``"X X ... X {name}."`` of a
:class:`~pomp_mm.core.PompPromptLearner` instead of hand templates, so SAN
configs run with a POMP prompt by overriding ``model.text_encoder``.
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from mmseg.utils import get_classes

from pomp_mm.core.prompt import PompPromptLearner
from pomp_mm.core.vocabulary import read_vocabulary


@MODELS.register_module()
class PompTextEncoder(BaseModule):
    """Class embeddings of a vocabulary from a learned POMP prompt.

    Text features are cached (non-persistent buffer) whenever they need no
    gradient: when ``ctx`` is frozen or grad is disabled. They are recomputed
    when the vocabulary, ``ctx`` (in-place update or a new prompt file) or the
    device changes.

    Args:
        prompt_learner (dict | PompPromptLearner): The prompt learner (or its
            config), e.g. ``dict(type='PompPromptLearner', clip=dict(
            type='FrozenCLIP', ...), prompt_checkpoint=..., freeze=True)``.
            Prompt files given to ``tools/test.py`` load into it.
        dataset_name (str, optional): Take the vocabulary from
            :func:`mmseg.utils.get_classes` (a leading ``'background'`` is
            dropped, as mmseg's ``CLIPTextEncoder`` does). Defaults to None.
        vocabulary (str | Sequence[str], optional): Class names or a
            class-name file. At most one of ``dataset_name`` and
            ``vocabulary``; with neither, the learner's own vocabulary (or
            :meth:`set_vocabulary` later) is used. Defaults to None.
        cat_bg (bool): Append a learnable background embedding as the last
            row. Defaults to True.
        cache_feature (bool): Cache gradient-free text features.
            Defaults to True.
        text_batch_size (int): Classes per text-tower batch when encoding
            the vocabulary without grad. Defaults to 256.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 prompt_learner: Union[dict, PompPromptLearner],
                 dataset_name: Optional[str] = None,
                 vocabulary: Optional[Union[str, Sequence[str]]] = None,
                 cat_bg: bool = True,
                 cache_feature: bool = True,
                 text_batch_size: int = 256,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if dataset_name is not None and vocabulary is not None:
            raise ValueError(
                f'PompTextEncoder: dataset_name={dataset_name!r} and '
                'vocabulary are both set; expected at most one of them')
        self.prompt_learner: PompPromptLearner = MODELS.build(
            prompt_learner) if isinstance(prompt_learner,
                                          dict) else prompt_learner
        if not isinstance(self.prompt_learner, PompPromptLearner):
            raise TypeError('PompTextEncoder: prompt_learner must build a '
                            'PompPromptLearner, got '
                            f'{type(self.prompt_learner).__name__}')
        if dataset_name is not None:
            try:
                names = list(get_classes(dataset_name))
            except ValueError as e:
                raise ValueError(f'PompTextEncoder: dataset_name='
                                 f'{dataset_name!r} is unknown to '
                                 f'mmseg.utils.get_classes ({e})') from e
            if names and names[0] == 'background':
                names = names[1:]
            self.set_vocabulary(names)
        elif vocabulary is not None:
            self.set_vocabulary(vocabulary)
        self.dataset_name = dataset_name
        self.cat_bg = cat_bg
        self.cache_feature = cache_feature
        self.text_batch_size = text_batch_size
        if cat_bg:
            self.bg_embed = nn.Parameter(
                torch.randn(1, self.prompt_learner.clip.embed_dim))
        self.register_buffer('text_features', torch.zeros(0),
                             persistent=False)
        self._cache_key = None

    @property
    def clip(self):
        """The frozen CLIP of the prompt learner."""
        return self.prompt_learner.clip

    @property
    def class_names(self) -> list:
        """The current vocabulary."""
        return self.prompt_learner.class_names

    @property
    def num_classes(self) -> int:
        """Size of the current vocabulary (without the background row)."""
        return self.prompt_learner.num_classes

    @property
    def logit_scale(self) -> torch.Tensor:
        """CLIP's temperature, already exponentiated (100 for OpenAI)."""
        return self.clip.logit_scale

    def init_weights(self) -> None:
        """Initialise; SAN's ``Pretrained_Part`` init_cfg is skipped.

        ``MultimodalEncoderDecoder(pretrained=...)`` gives every part a
        ``Pretrained_Part`` init_cfg for mmseg's converted CLIP file. The text
        tower here comes from ``FrozenCLIP(checkpoint=...)`` instead.
        """
        if self.init_cfg and self.init_cfg.get('type') == 'Pretrained_Part':
            print_log('PompTextEncoder: CLIP text weights come from '
                      'FrozenCLIP(checkpoint=...); the Pretrained_Part '
                      'init_cfg is not used', logger='current')
            self._is_init = True
            return
        super().init_weights()

    def set_vocabulary(self, vocabulary: Union[str,
                                               Sequence[str]]) -> None:
        """Switch to a new vocabulary (names or a class-name file)."""
        names = read_vocabulary(vocabulary)
        if self.prompt_learner.class_names != names:
            self.prompt_learner.set_vocabulary(names)

    def class_features(self) -> torch.Tensor:
        """(N, D) L2-normalised text features of the vocabulary (fp32).

        With grad when ``ctx`` is trainable and grad is enabled; otherwise
        from the cache.
        """
        learner = self.prompt_learner
        if learner.num_classes == 0:
            raise RuntimeError(
                'PompTextEncoder has no vocabulary: set `vocabulary` or '
                "`dataset_name`, or add dict(type='VocabularyHook') to "
                'custom_hooks')
        ctx = learner.ctx
        if ctx.requires_grad and torch.is_grad_enabled():
            return learner(normalize=True).float()
        key = (learner.vocabulary_version, ctx._version, ctx.data_ptr(),
               str(ctx.device))
        if not self.cache_feature or key != self._cache_key:
            # a bar when the vocabulary takes several batches (once per
            # vocabulary; none when recomputed on every forward)
            feats = learner.encode_vocabulary(
                self.text_batch_size, normalize=True,
                progress=self.cache_feature).float()
            if not self.cache_feature:
                return feats
            self.text_features = feats
            self._cache_key = key
        return self.text_features

    def forward(self) -> torch.Tensor:
        """``logit_scale * normalize(cat([class_embeds, bg_embed]))``.

        Returns:
            Tensor: (N+1, D) with ``cat_bg`` (background last), else (N, D).
        """
        embeds = self.class_features()
        if self.cat_bg:
            embeds = torch.cat([embeds, self.bg_embed.to(embeds)])
            embeds = F.normalize(embeds, p=2, dim=-1)
        return self.logit_scale.to(embeds) * embeds
