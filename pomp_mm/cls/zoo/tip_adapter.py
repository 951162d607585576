"""Tip-Adapter and Tip-Adapter-F (Zhang et al., ECCV 2022, "Tip-Adapter:
Training-free Adaption of CLIP for Few-shot Classification").

A *cache model* of the few-shot training set sits beside CLIP's
hand-template classifier ``W``: keys ``K`` (N x D) are the normalised CLIP
features of the N training images, values ``L`` (N x C) their one-hot
labels. For a normalised test feature ``f``::

    logits = s * f W^T + alpha * exp(-beta * (1 - f K^T)) L

``s`` is CLIP's logit scale (100 for OpenAI weights, the value the paper
writes; the loaded CLIP's own value otherwise), ``alpha`` the residual
ratio, ``beta`` the sharpness. As the official code, with
``augment_epochs > 1`` each key is the mean of the raw features of that
many randomly augmented passes over the training set, normalised after
averaging.

* **Tip-Adapter** is training-free: the cache is the whole model.
* **Tip-Adapter-F** makes ``K`` learnable, initialised from the cache, and
  fine-tunes it with cross-entropy (paper: 20 epochs, AdamW, lr 1e-3);
  ``L`` and CLIP stay fixed.

**Who builds the cache:** :class:`TipAdapterCacheHook`. Before training
(``tools/train.py``; a 0-epoch run is the training-free method, and the hook
then saves ``epoch_0.pth`` itself) it encodes the training set, and it
does the same before a test that starts with an empty cache
(``tools/test.py CONFIG`` without a checkpoint, reading
``train_dataloader`` from the config). The cache is part of the model's
state dict (``cache_keys``, ``cache_labels`` and the cache's class names),
so ``tools/test.py CONFIG epoch_N.pth`` needs no training data.

**Novel classes:** the cache is matched to the test vocabulary by class
name. A test class with no image in the cache (a base-to-novel "novel"
class, a cross-dataset class) gets a cache term of exactly zero, so there
Tip-Adapter is zero-shot CLIP and only competes through the other classes'
cache scores.
"""
import copy
import os.path as osp
from collections.abc import Iterable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from mmengine.dist import broadcast, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import FUNCTIONS, HOOKS
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import DATASETS, MODELS
from torch import nn
from torch.utils.data import DataLoader

from pomp_mm.core import FrozenCLIP
from pomp_mm.core.checkpoint import atomic_write_text
from pomp_mm.core.utils import unwrap_model
from pomp_mm.core.vocabulary import clean_classname

from .adapter_base import TemplateHeadClassifier, Vocabulary, resize_parameter

__all__ = ['TipAdapterCacheHook', 'TipAdapterClassifier']


@MODELS.register_module()
class TipAdapterClassifier(TemplateHeadClassifier):
    """CLIP's template classifier plus a few-shot key-value cache.

    Args:
        clip (dict | FrozenCLIP): The frozen CLIP (or its config).
        alpha (float): Residual ratio of the cache term. Defaults to 1.0
            (the paper's default).
        beta (float): Sharpness of the key affinities. Defaults to 5.5
            (the paper's default).
        learnable_keys (bool): Fine-tune the keys (Tip-Adapter-F).
            Defaults to False.
        templates (str | Sequence[str]): The hand template(s) of the text
            classifier. Defaults to ``'a photo of a {}.'``.
        vocabulary (str | Sequence[str], optional): Test class names; else
            set by ``VocabularyHook``. Defaults to None.
        train_vocabulary (str | Sequence[str], optional): Training class
            names; else set by ``VocabularyHook``. Defaults to None.
        text_batch_size (int): Classes per text-tower batch. Defaults to 64.
        data_preprocessor (dict, optional): See
            :class:`~pomp_mm.cls.model.CLIPClassifierBase`.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 clip: dict | FrozenCLIP,
                 alpha: float = 1.0,
                 beta: float = 5.5,
                 learnable_keys: bool = False,
                 templates: str | Sequence[str] = 'a photo of a {}.',
                 vocabulary: Vocabulary = None,
                 train_vocabulary: Vocabulary = None,
                 text_batch_size: int = 64,
                 data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(clip=clip,
                         templates=templates,
                         vocabulary=vocabulary,
                         train_vocabulary=train_vocabulary,
                         text_batch_size=text_batch_size,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if alpha < 0 or beta < 0:
            raise ValueError(f'alpha={alpha}, beta={beta}: expected '
                             'non-negative numbers')
        self.alpha, self.beta = float(alpha), float(beta)
        self.learnable_keys = learnable_keys
        # (N, D) keys; empty until the cache is built or loaded
        self.cache_keys = nn.Parameter(torch.zeros(0, self.clip.embed_dim),
                                       requires_grad=learnable_keys)
        self.register_buffer('cache_labels', torch.zeros(0,
                                                         dtype=torch.long))
        self.cache_classes: list[str] = []

    # -- the cache ----------------------------------------------------------
    @property
    def has_cache(self) -> bool:
        """Whether the cache has been built or loaded."""
        return self.cache_keys.numel() > 0

    def set_cache(self, keys: torch.Tensor, labels: torch.Tensor,
                  class_names: Sequence[str]) -> None:
        """Fill the cache.

        Args:
            keys (Tensor): (N, D) keys, normalised CLIP image features.
            labels (Tensor): (N,) label of each key, indices into
                ``class_names``.
            class_names (Sequence[str]): The cache's classes.
        """
        if keys.dim() != 2 or keys.shape[1] != self.clip.embed_dim:
            raise ValueError(f'cache keys of shape {tuple(keys.shape)}: '
                             f'expected (N, {self.clip.embed_dim})')
        if labels.shape != keys.shape[:1]:
            raise ValueError(f'{len(labels)} cache labels for '
                             f'{len(keys)} keys')
        if len(labels) and not 0 <= int(labels.min()) <= int(
                labels.max()) < len(class_names):
            raise ValueError(f'cache labels must lie in [0, '
                             f'{len(class_names)}) (the cache classes)')
        if not len(keys):
            raise ValueError('the cache is empty (no keys)')
        resize_parameter(self.cache_keys, keys.shape)
        with torch.no_grad():
            self.cache_keys.copy_(keys)
        self.cache_labels = labels.to(self.cache_keys.device, torch.long)
        self.cache_classes = list(class_names)

    @torch.no_grad()
    def build_cache(self, batches: Iterable[dict], class_names: Sequence[str],
                    augment_epochs: int = 1) -> None:
        """Encode a training set into the cache (the official recipe).

        Args:
            batches (Iterable[dict]): Collated, *unshuffled* batches
                (``inputs``, ``data_samples``), iterated once per epoch;
                a random training pipeline gives new augmentations each
                time.
            class_names (Sequence[str]): The classes the labels index.
            augment_epochs (int): Passes to average each key over.
                Defaults to 1.
        """
        if augment_epochs < 1:
            raise ValueError(f'augment_epochs={augment_epochs}: expected '
                             '>= 1')
        total, labels = None, None
        for _ in range(augment_epochs):
            feats, labs = [], []
            for data in batches:
                data = self.data_preprocessor(data, False)
                images = self._images(data['inputs'])
                lab = torch.cat([s.gt_label for s in data['data_samples']])
                feats.append(self.clip.encode_image(images).float())
                labs.append(lab.repeat(len(images) // len(lab)))
            if not feats:
                raise ValueError('the cache data loader yielded no batches')
            feats, labs = torch.cat(feats), torch.cat(labs).cpu()
            if labels is not None and not torch.equal(labels, labs):
                raise ValueError('the cache data loader changed its sample '
                                 'order between epochs; it must not shuffle')
            total = feats if total is None else total + feats
            labels = labs
        self.set_cache(F.normalize(total / augment_epochs, dim=-1), labels,
                       class_names)

    def cache_columns(self, names: Sequence[str]) -> torch.Tensor:
        """Column of each cache class in ``names`` (-1: not there)."""
        where = {clean_classname(n): j for j, n in enumerate(names)}
        return torch.tensor(
            [where.get(clean_classname(n), -1) for n in self.cache_classes],
            dtype=torch.long)

    def cache_logits(self, feats: torch.Tensor,
                     names: Sequence[str]) -> torch.Tensor:
        """``exp(-beta (1 - f K^T)) L`` over the classes ``names``.

        Args:
            feats (Tensor): (B, D) normalised image features.
            names (Sequence[str]): The classes to score; those without an
                image in the cache get 0.

        Returns:
            Tensor: (B, len(names)) cache logits.
        """
        if not self.has_cache:
            raise RuntimeError(
                f'{type(self).__name__}: the cache is empty; add '
                "custom_hooks=[dict(type='TipAdapterCacheHook')] (it is "
                'built from the training set) or load a checkpoint')
        affinity = feats @ self.cache_keys.t()  # (B, N)
        weight = torch.exp(-self.beta * (1 - affinity))
        column = self.cache_columns(names).to(feats.device)
        column = column[self.cache_labels]  # (N,) each key's column
        keep = column >= 0
        out = feats.new_zeros(len(feats), len(names))
        return out.index_add(1, column[keep], weight[:, keep])

    def logits(self, images: torch.Tensor,
               mode: str = 'test') -> torch.Tensor:
        """(B, C) Tip-Adapter logits over the ``mode`` vocabulary."""
        feats = self.extract_feat(images)
        clip_logits = self.clip.logit_scale * feats @ \
            self.class_embeddings(mode).t()
        names = self.class_names_for(mode)
        return clip_logits + self.alpha * self.cache_logits(feats, names)

    def loss(self, images: torch.Tensor,
             data_samples) -> dict[str, torch.Tensor]:
        """Cross-entropy over the training classes (Tip-Adapter-F)."""
        if not self.learnable_keys:
            raise RuntimeError(
                f'{type(self).__name__} with learnable_keys=False is '
                'training-free: train it for 0 epochs (the cache hook builds '
                'the cache) or set learnable_keys=True (Tip-Adapter-F)')
        return super().loss(images, data_samples)

    # -- state dict: the cache's shape and class names ----------------------
    def get_extra_state(self) -> dict:
        return {'cache_classes': list(self.cache_classes)}

    def set_extra_state(self, state: dict) -> None:
        self.cache_classes = list(state.get('cache_classes', []))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        keys = state_dict.get(prefix + 'cache_keys')
        labels = state_dict.get(prefix + 'cache_labels')
        if keys is not None and labels is not None:
            resize_parameter(self.cache_keys, keys.shape)
            self.cache_labels = torch.empty_like(
                labels, device=self.cache_labels.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


@HOOKS.register_module()
class TipAdapterCacheHook(Hook):
    """Build a :class:`TipAdapterClassifier`'s cache from the training set.

    Before training, and before validation or test when the model's cache
    is still empty, it encodes the training set of the config
    (``train_dataloader``: its dataset and pipeline, not shuffled) for
    ``augment_epochs`` passes. After a training run of 0 epochs (the
    training-free Tip-Adapter) it saves the model to ``epoch_0.pth`` and
    points ``last_checkpoint`` at it, so ``tools/test.py CONFIG
    work_dir/epoch_0.pth`` evaluates it.

    Args:
        augment_epochs (int): Augmented passes each key averages (the paper
            uses 10). Defaults to 10.
        batch_size (int, optional): Batch size of the cache loader.
            Defaults to None (the training batch size).
        save_zero_epoch_checkpoint (bool): Save ``epoch_0.pth`` after a
            0-epoch training run. Defaults to True.
    """

    priority = 'NORMAL'

    def __init__(self,
                 augment_epochs: int = 10,
                 batch_size: int | None = None,
                 save_zero_epoch_checkpoint: bool = True) -> None:
        if augment_epochs < 1:
            raise ValueError(f'TipAdapterCacheHook: augment_epochs='
                             f'{augment_epochs}: expected >= 1')
        self.augment_epochs = augment_epochs
        self.batch_size = batch_size
        self.save_zero_epoch_checkpoint = save_zero_epoch_checkpoint

    def _loader(self, runner, dataset=None) -> DataLoader:
        cfg = runner.cfg.get('train_dataloader')
        if not cfg:
            raise ValueError('TipAdapterCacheHook: the config has no '
                             'train_dataloader to build the cache from')
        if dataset is None:
            dataset = DATASETS.build(copy.deepcopy(cfg['dataset']))
        collate = copy.deepcopy(cfg.get('collate_fn',
                                        {'type': 'default_collate'}))
        fn = collate.pop('type')
        fn = FUNCTIONS.get(fn) if isinstance(fn, str) else fn
        return DataLoader(dataset,
                          batch_size=self.batch_size or cfg['batch_size'],
                          shuffle=False,
                          num_workers=cfg.get('num_workers', 0),
                          collate_fn=partial(fn, **collate))

    def _build(self, runner, dataset=None) -> None:
        model = unwrap_model(runner.model)
        if not isinstance(model, TipAdapterClassifier):
            raise TypeError('TipAdapterCacheHook needs a '
                            f'TipAdapterClassifier, not {type(model).__name__}')
        if model.has_cache:
            return
        loader = self._loader(runner, dataset)
        classes = list(loader.dataset.metainfo.get('classes') or [])
        if not classes:
            raise ValueError(
                f'TipAdapterCacheHook: the training set '
                f'{type(loader.dataset).__name__} has no metainfo["classes"]'
                ' (the cache is matched to test classes by name)')
        model.build_cache(loader, classes, self.augment_epochs)
        if get_world_size() > 1:  # one cache for every rank
            broadcast(model.cache_keys.data)
        print_log(f'Tip-Adapter cache: {len(model.cache_labels)} keys of '
                  f'{len(classes)} classes, {self.augment_epochs} augmented '
                  'epoch(s)', logger='current')

    def before_train(self, runner) -> None:
        self._build(runner, runner.train_dataloader.dataset)

    def before_val(self, runner) -> None:
        self._build(runner)

    def before_test(self, runner) -> None:
        self._build(runner)

    def after_train(self, runner) -> None:
        if runner.iter > 0 or not self.save_zero_epoch_checkpoint:
            return
        by_epoch = isinstance(runner.train_loop, EpochBasedTrainLoop)
        name = 'epoch_0.pth' if by_epoch else 'iter_0.pth'
        runner.save_checkpoint(runner.work_dir, name, save_optimizer=False,
                               save_param_scheduler=False,
                               meta={'epoch': 0, 'iter': 0},
                               by_epoch=by_epoch)
        if is_main_process():
            atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'),
                              osp.join(runner.work_dir, name))
        runner.logger.info(f'Tip-Adapter cache saved to {name}')
