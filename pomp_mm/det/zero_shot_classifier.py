# Copyright (c) pomp_mm contributors. All rights reserved.
"""A Detic-style zero-shot region classifier fed by a POMP prompt.

It plugs into any mmdet bbox head as ``cls_predictor_cfg`` (the head passes
``in_features`` / ``out_features``) and scores region features against the
text features of a class vocabulary::

    logits = T * normalize(Linear(x)) @ [normalize(text_1..text_C), 0]

with ``T = 50`` and a zero background column, as Detic's
``ZeroShotClassifier``. The text features come from a
:class:`~pomp_mm.core.PompPromptLearner` (so ``tools/test.py CONFIG PROMPT``
loads a prompt into it) or from a fixed ``.npy`` written by
``tools/dump_text_features.py``. They live in a non-persistent buffer: it
follows ``.to()``, is never saved in checkpoints, and is recomputed when the
vocabulary or the prompt changes.
"""
import os.path as osp
import weakref
from typing import Callable, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.model import BaseModule

from pomp_mm.core import PompPromptLearner
from pomp_mm.core.vocabulary import read_vocabulary

CLASSNAMES_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'classnames')
BUILTIN_VOCABULARIES = ('coco', 'coco_ov65', 'coco_ov_base48',
                        'coco_ov_novel17', 'lvis_v1', 'objects365v2')
#: built-in list name -> its file
BUILTIN_FILES = {name: osp.join(CLASSNAMES_DIR, f'{name}.txt')
                 for name in BUILTIN_VOCABULARIES}
Vocabulary = Union[str, Sequence[str]]
#: prompt learner -> its classifier weights, shared by the classifiers that
#: share the learner (the stages of :class:`~pomp_mm.det.PompCascadeRoIHead`)
_TEXT_CACHE = weakref.WeakKeyDictionary()


def resolve_vocabulary(vocabulary: Vocabulary) -> List[str]:
    """Class names from a list, a class-name file or a built-in list name.

    Args:
        vocabulary (str | Sequence[str]): Class names; or a text file with one
            name per line; or one of :data:`BUILTIN_VOCABULARIES`
            (``'coco'``, ``'coco_ov65'``, ``'coco_ov_base48'``,
            ``'coco_ov_novel17'``, ``'lvis_v1'``, ``'objects365v2'``), the
            lists shipped in ``pomp_mm/det/classnames/``.

    Returns:
        list[str]: The class names, in label order.
    """
    return read_vocabulary(vocabulary, builtins=BUILTIN_FILES)


@MODELS.register_module()
class PompZeroShotClassifier(BaseModule):
    """Region features scored against prompt text features (Detic style).

    Exactly one of ``prompt_learner`` and ``zs_weight_path`` is given.

    Args:
        in_features (int): Region feature size (set by the bbox head).
        out_features (int): ``num_classes + 1`` (set by the bbox head); the
            last column is the background, whose weight is zero.
        prompt_learner (dict | PompPromptLearner, optional): Config of a
            :class:`~pomp_mm.core.PompPromptLearner` (with its ``clip``; a
            ``text_only`` CLIP is enough). Its ``freeze`` defaults to True
            here. A built learner is *shared*: it is used but not registered
            here (its owner saves, moves and loads it) and its text features
            are computed once for all classifiers that share it (the later
            stages of :class:`~pomp_mm.det.PompCascadeRoIHead`).
            Defaults to None.
        zs_weight_path (str, optional): A (C, D) ``.npy`` of class text
            features (``tools/dump_text_features.py`` output or Detic's
            ``*_clip_a+cname.npy``), un-normalised is fine. Defaults to None.
        vocabulary (str | Sequence[str], optional): The initial class names
            (see :func:`resolve_vocabulary`); usually set later by the
            detector from its datasets. Defaults to None.
        norm_temperature (float): The logit scale ``T``. Defaults to 50.
        use_bias (float): When negative, add a learnable logit bias
            initialised to this value, as Detic's ``USE_BIAS`` (which turns
            the bias on only for negative values, e.g. -4.6). 0 means no
            bias; a positive value, which Detic would silently ignore, is an
            error. Defaults to 0.
        text_batch_size (int): Classes per text-tower batch when the
            vocabulary is encoded. Defaults to 256.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 prompt_learner: Optional[dict] = None,
                 zs_weight_path: Optional[str] = None,
                 vocabulary: Optional[Vocabulary] = None,
                 norm_temperature: float = 50.0,
                 use_bias: float = 0.0,
                 text_batch_size: int = 256,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if (prompt_learner is None) == (zs_weight_path is None):
            raise ValueError(
                'PompZeroShotClassifier: give exactly one of prompt_learner '
                f'(got {prompt_learner!r}) and zs_weight_path (got '
                f'{zs_weight_path!r})')
        self.norm_temperature = float(norm_temperature)
        self.text_batch_size = text_batch_size
        self.zs_weight_path = zs_weight_path
        self.prompt_learner: Optional[PompPromptLearner] = None
        self._fixed: Optional[torch.Tensor] = None
        if isinstance(prompt_learner, PompPromptLearner):  # shared
            self.__dict__['prompt_learner'] = prompt_learner
            dim = prompt_learner.clip.embed_dim
        elif prompt_learner is not None:
            cfg = dict(prompt_learner)
            cfg.setdefault('freeze', True)
            self.prompt_learner = MODELS.build(cfg)
            dim = self.prompt_learner.clip.embed_dim
        else:
            self._fixed = self._load_npy(zs_weight_path)
            dim = self._fixed.shape[1]
        self.in_features = in_features
        self.zs_weight_dim = dim
        self.linear = nn.Linear(in_features, dim)
        if use_bias > 0:
            raise ValueError(
                f'PompZeroShotClassifier: use_bias={use_bias!r}; Detic turns '
                'the logit bias on only for a negative initial value; '
                'expected a negative number such as -4.6, or 0 for no bias')
        self.use_bias = use_bias < 0
        if self.use_bias:
            self.cls_bias = nn.Parameter(torch.full((1, ), float(use_bias)))
        # (D, C + 1) normalised text features + zero background column
        self.register_buffer('zs_weight', torch.zeros(dim, 0),
                             persistent=False)
        self._cache_key = None
        self.class_names: List[str] = []
        #: bumped whenever :attr:`class_names` changes
        self.vocabulary_version = 0
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)
        if self.num_classes and self.num_classes != out_features - 1:
            what = 'vocabulary' if self.class_names else \
                f'zs_weight_path {zs_weight_path}'
            raise ValueError(
                f'PompZeroShotClassifier: the {what} has '
                f'{self.num_classes} classes but the bbox head has '
                f'num_classes={out_features - 1}; make them equal')

    @staticmethod
    def _load_npy(path: str) -> torch.Tensor:
        if not osp.isfile(path):
            raise FileNotFoundError(f'zs_weight_path {path}: file not found')
        array = np.load(path)
        if array.ndim != 2 or min(array.shape) == 0:
            raise ValueError(
                f'zs_weight_path {path}: array of shape {array.shape}; '
                'expected (num_classes, dim) text features')
        return torch.from_numpy(np.asarray(array, dtype=np.float32))

    # -- vocabulary ---------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Size of the current vocabulary (background excluded)."""
        if self.class_names:
            return len(self.class_names)
        return 0 if self._fixed is None else len(self._fixed)

    def set_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Use a new vocabulary; its text features are computed on demand.

        Args:
            vocabulary (str | Sequence[str]): Class names, a class-name
                file or a built-in list name (see :func:`resolve_vocabulary`).
        """
        names = resolve_vocabulary(vocabulary)
        if names == self.class_names:
            return
        if self._fixed is not None and len(names) != len(self._fixed):
            raise ValueError(
                f'zs_weight_path {self.zs_weight_path}: {len(self._fixed)} '
                f'rows but the vocabulary has {len(names)} classes; dump '
                'features for these classes with tools/dump_text_features.py '
                'or use a prompt_learner')
        learner = self.prompt_learner
        if learner is not None and learner.class_names != names:
            learner.set_vocabulary(names)
        self.class_names = list(names)
        self.vocabulary_version += 1

    def _text_features(self) -> torch.Tensor:
        """(C, D) normalised text features of the vocabulary."""
        learner = self.prompt_learner
        if learner is None:
            return F.normalize(self._fixed, dim=1)
        if learner.num_classes == 0:
            raise RuntimeError(
                'PompZeroShotClassifier has no vocabulary: set `vocabulary` '
                'in its config, use PompTwoStageDetector with datasets that '
                'have metainfo["classes"], or call set_vocabulary()')
        if learner.ctx.requires_grad and self.training:
            return learner(normalize=True)  # prompt tuning: keep the graph
        return learner.encode_vocabulary(
            self.text_batch_size, normalize=True,
            progress=learner.num_classes > 5 * self.text_batch_size)

    def class_weight(self) -> torch.Tensor:
        """(D, C + 1) classifier: normalised text features, zero background.

        Computed once per vocabulary, prompt and device, and kept in the
        non-persistent ``zs_weight`` buffer; a trainable prompt in training
        mode is re-encoded at every call so that gradients reach ``ctx``.
        """
        device = self.linear.weight.device
        learner = self.prompt_learner
        if learner is not None and self.class_names and \
                learner.class_names != self.class_names:  # a shared learner
            learner.set_vocabulary(self.class_names)
        if learner is not None and learner.ctx.requires_grad and \
                self.training:
            self._cache_key = None
            text = self._text_features().to(device, torch.float32)
            return torch.cat([text.t(), text.new_zeros(text.shape[1], 1)], 1)
        key = (tuple(self.class_names), str(device))
        if learner is not None:
            ctx = learner.ctx
            key += (learner.vocabulary_version, ctx._version, ctx.data_ptr())
        if key != self._cache_key:
            shared = _TEXT_CACHE.get(learner, {}) if learner is not None \
                else {}
            if key in shared:  # another classifier of this learner made it
                self.zs_weight = shared[key]
            else:
                with torch.no_grad():
                    text = self._text_features().to(device, torch.float32)
                self.zs_weight = torch.cat(
                    [text.t(), text.new_zeros(text.shape[1], 1)], dim=1)
                if learner is not None:
                    _TEXT_CACHE[learner] = {key: self.zs_weight}
            self._cache_key = key
        return self.zs_weight

    # -- forward ------------------------------------------------------------
    def forward(self,
                x: torch.Tensor,
                classifier: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Class logits of region features.

        Args:
            x (Tensor): (N, in_features) region features.
            classifier (Tensor, optional): (C', D) text features overriding
                the vocabulary's (normalised here; a zero background column
                is appended). Defaults to None.

        Returns:
            Tensor: (N, C + 1) logits, the last column the background's.
        """
        x = F.normalize(self.linear(x), p=2, dim=1)
        if classifier is not None:
            w = F.normalize(classifier.to(x), dim=1).t()
            w = torch.cat([w, w.new_zeros(w.shape[0], 1)], dim=1)
        else:
            w = self.class_weight().to(x.dtype)
        logits = self.norm_temperature * (x @ w)
        if self.use_bias:
            logits = logits + self.cls_bias
        return logits

    def apply(self,
              fn: Callable[[nn.Module], None]) -> 'PompZeroShotClassifier':
        """``fn`` on this module and its projection, never on the CLIP.

        mmdet's bbox heads initialise ``fc_cls`` with a ``Normal`` override
        that reaches every sub-module through ``apply``; that would
        overwrite the frozen CLIP's weights. The prompt learner is skipped.
        """
        for name, module in self.named_children():
            if name != 'prompt_learner':
                module.apply(fn)
        fn(self)
        return self

    def extra_repr(self) -> str:
        source = ('prompt' if 'prompt_learner' in self._modules else
                  'shared prompt') if self.prompt_learner is not None else \
            f'npy={self.zs_weight_path!r}'
        return (f'in_features={self.in_features}, dim={self.zs_weight_dim}, '
                f'classes={self.num_classes}, T={self.norm_temperature}, '
                f'{source}')
