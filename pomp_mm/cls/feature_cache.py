"""An exact cache of a training run's image features, and a zero-shot memo.

CLIP is frozen, so the image features a POMP / CoOp training computes depend
only on the images, the seeded augmentations and the CLIP weights, never on
the prompt, the loss or the optimizer. A sweep over those (``n_ctx``, the
log base, the learning rate, ...) can therefore encode its images once.

**Build** (:func:`build_feature_cache`, ``tools/cache_image_features.py``):
the config's own training loop runs for ``epochs`` epochs through MMEngine's
Runner with the same sampler (``DefaultSampler``: seed + ``set_epoch``), the
same worker seeding (MMEngine's ``worker_init_fn``, shifted per epoch by
:class:`~pomp_mm.core.RandomStateHook`) and the same main-process RNG states,
but each step stores the image tower's output instead of training
(:class:`ImageFeatureCacheLoop`). The folder holds one memory-mapped
``.npy`` shard per epoch (``(N, views, D)``, fp16 or fp32, indexed by the
dataset index), the sampler's order of each epoch, the labels and a
``manifest.json`` written last (:data:`MANIFEST`). Shards are written into a
temporary folder that is renamed into place.

**Train from it**: ``model.image_feature_cache=DIR`` and
``dict(type='ImageFeatureCacheHook')`` in ``custom_hooks``. Before the first
step the hook checks the manifest against the run (config parts that shape
the images, CLIP fingerprint, seed, epochs, data list, world size; any
difference is one :class:`FeatureCacheMismatch` line naming the key), then
serves the training loop from the cache: the sampler is the run's own, so
step ``i`` of epoch ``e`` reads exactly the features the online run computes
there; each epoch's order is compared with the cached one. The data pipeline
and the image tower do not run. Validation and testing are unchanged.

**Zero-shot over many vocabularies**: :class:`ImageFeatureMemo` keeps the
image features of test batches in memory, keyed by the batch's pixels (so
by image content and pipeline) and the CLIP fingerprint; a second vocabulary
over the same images does not run the image tower again.

Assumptions (checked where they can be): one process; a ``DefaultSampler``
and the default batch sampler; the transforms draw from numpy / python
``random`` (mmcv and mmpretrain do), or, when they draw from torch's global
RNG in the main process, the whole model config must match too (the build
detects it and records ``'model'`` among the checked parts); image files
are not edited in place after the build (the data list is fingerprinted,
not the pixels).
"""
import contextlib
import copy
import hashlib
import json
import logging
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmengine.dataset import DefaultSampler
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS, LOOPS
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader, Dataset

from pomp_mm.core.checkpoint import CheckpointMismatchError, atomic_write_text
from pomp_mm.core.clip import weights_fingerprint
from pomp_mm.core.hooks import dataset_fingerprint
from pomp_mm.core.utils import build_runner, unwrap_model

#: Version tag of the cache layout.
FORMAT = 'pomp_mm.image_feature_cache/1'
#: The manifest, written last: a folder without it is not a cache.
MANIFEST = 'manifest.json'
#: Field of a cached training sample that holds its (views, D) features.
FEATURE_FIELD = 'image_features'
DTYPES = {'fp16': np.float16, 'fp32': np.float32}
#: Custom hooks that the build leaves out: they write checkpoints or check
#: losses, and draw no random numbers.
BUILD_SKIPS_HOOKS = ('PromptCheckpointHook', 'NonFiniteCheckHook',
                     'PompClsVisualizationHook')


class FeatureCacheMismatch(CheckpointMismatchError):
    """A feature cache that does not belong to this run (one line naming
    the manifest key); the tools print it as their one error line."""


# -- what the images depend on ------------------------------------------------
def _plain(obj: Any) -> Any:
    """A config value as JSON-able plain data (dicts sorted by key)."""
    if hasattr(obj, 'to_dict'):
        obj = obj.to_dict()
    if isinstance(obj, dict):
        items = sorted(obj.items(), key=lambda kv: str(kv[0]))
        return {str(k): _plain(v) for k, v in items}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def _digest(obj: Any) -> str:
    text = json.dumps(_plain(obj), sort_keys=True)
    return 'sha256:' + hashlib.sha256(text.encode()).hexdigest()[:16]


def image_config_parts(cfg, with_model: bool = False) -> Dict[str, str]:
    """Digests of the config parts that decide a run's image features.

    Args:
        cfg (Config): A training config.
        with_model (bool): Also the whole ``model`` (needed when the
            pipeline draws from torch's global RNG, which the model's
            initialisation also draws from). Defaults to False.

    Returns:
        dict: config key -> digest. The CLIP part leaves out the
        checkpoint path (the weights are checked by fingerprint).
    """
    loader = cfg.train_dataloader
    model = cfg.model
    clip = dict(_plain((model.get('prompt_learner') or {}).get('clip') or
                       model.get('clip') or {}))
    clip.pop('checkpoint', None)
    parts = {
        'train_dataloader.dataset': loader.get('dataset'),
        'train_dataloader.sampler': loader.get('sampler'),
        'train_dataloader.batch_sampler': loader.get('batch_sampler'),
        'train_dataloader.batch_size': loader.get('batch_size'),
        'train_dataloader.drop_last': loader.get('drop_last', False),
        'train_dataloader.num_workers': loader.get('num_workers', 0),
        'train_dataloader.persistent_workers':
        loader.get('persistent_workers', False),
        'train_dataloader.worker_init_fn': loader.get('worker_init_fn'),
        # the seed is checked (and named) on its own
        'randomness': {k: v for k, v in _plain(cfg.get('randomness') or
                                               {}).items() if k != 'seed'},
        'model.data_preprocessor': model.get('data_preprocessor'),
        # AmpOptimWrapper runs the image tower under autocast
        'optim_wrapper.autocast': {
            'amp': 'Amp' in str((cfg.get('optim_wrapper') or {}).get('type')),
            'dtype': (cfg.get('optim_wrapper') or {}).get('dtype')},
        'model.prompt_learner.clip': clip,
        'custom_hooks': [h for h in (cfg.get('custom_hooks') or [])
                         if h.get('type') not in BUILD_SKIPS_HOOKS
                         and h.get('type') != 'ImageFeatureCacheHook'],
    }
    if with_model:
        parts['model'] = {k: v for k, v in _plain(model).items()
                          if k != 'image_feature_cache'}
    return {k: _digest(v) for k, v in parts.items()}


def clip_identity(clip) -> str:
    """The CLIP's weight fingerprint
    (:func:`~pomp_mm.core.clip.weights_fingerprint`; computed from the
    weights in memory for a random CLIP, whose ``fingerprint`` is None)."""
    return getattr(clip, 'fingerprint', None) or \
        weights_fingerprint(clip.model.state_dict())


def _seed(cfg) -> Optional[int]:
    seed = (cfg.get('randomness') or {}).get('seed')
    return None if seed is None else int(seed)


def _check_loader(loader, where: str) -> None:
    """The sampler and batching the cache can replay exactly."""
    sampler = loader.sampler
    if not isinstance(sampler, DefaultSampler):
        raise FeatureCacheMismatch(
            f'{where}: train_dataloader.sampler is '
            f'{type(sampler).__name__}; the image-feature cache needs '
            'DefaultSampler (seeded, set_epoch per epoch)')
    if get_world_size() != 1:
        raise FeatureCacheMismatch(
            f'{where}: {get_world_size()} processes; the image-feature cache '
            'supports single-process runs only')


def _epoch_order(loader) -> np.ndarray:
    """The dataset indices of the loader's epoch (its sampler, already
    ``set_epoch``-ed; DefaultSampler draws from its own generator)."""
    return np.asarray(list(iter(loader.sampler)), dtype=np.int64)


# -- build -----------------------------------------------------------------
@LOOPS.register_module()
class ImageFeatureCacheLoop(EpochBasedTrainLoop):
    """The training loop of a config, storing image features instead of
    training (see :func:`build_feature_cache`).

    Hooks run as in training (sampler epoch, RandomStateHook's states and
    worker seeds); no validation, no optimizer step.

    Args:
        out_dir (str): Folder for the shards (the temp folder of the build).
        dtype (str): ``'fp16'`` or ``'fp32'``.
    """

    def __init__(self, runner, dataloader, max_epochs: int, out_dir: str,
                 dtype: str = 'fp16', **kwargs) -> None:
        super().__init__(runner, dataloader, max_epochs, **kwargs)
        self.out_dir = out_dir
        self.dtype = dtype
        self.shards: List[str] = []
        self.shape: Optional[tuple] = None
        self.torch_rng_in_pipeline = False
        self.labels: Optional[np.ndarray] = None

    def run(self) -> torch.nn.Module:
        _check_loader(self.dataloader, 'cache_image_features')
        n = len(self.dataloader.dataset)
        self.labels = np.full(n, -1, dtype=np.int64)
        self.runner.call_hook('before_train')
        while self._epoch < self._max_epochs:
            self.run_epoch()
        self.runner.call_hook('after_train')
        return self.runner.model

    def run_epoch(self) -> None:
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        self._order = _epoch_order(self.dataloader)
        if len(np.unique(self._order)) != len(self._order):
            raise FeatureCacheMismatch(
                'cache_image_features: the sampler visits a sample twice in '
                'one epoch; the cache stores one entry per sample and epoch')
        self._feats = None
        self._pos = 0
        self._seen = np.zeros(len(self.dataloader.dataset), dtype=bool)
        fetch = iter(self.dataloader)
        idx = 0
        while True:
            before = torch.get_rng_state() if \
                self.dataloader.num_workers == 0 else None
            try:
                data_batch = next(fetch)
            except StopIteration:
                break
            if before is not None and not torch.equal(before,
                                                      torch.get_rng_state()):
                self.torch_rng_in_pipeline = True
            self.run_iter(idx, data_batch)
            idx += 1
        self._feats.flush()
        del self._feats
        np.save(osp.join(self.out_dir, f'order_e{self._epoch:03d}.npy'),
                self._order[:self._pos])
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def run_iter(self, idx, data_batch) -> None:
        self.runner.call_hook('before_train_iter', batch_idx=idx,
                              data_batch=data_batch)
        model = unwrap_model(self.runner.model)
        # as train_step: under the optimizer's context (AMP's autocast)
        with self.runner.optim_wrapper.optim_context(self.runner.model):
            data = model.data_preprocessor(data_batch, True)
            feats = model.extract_feat(model._images(data['inputs']))
        samples = data['data_samples']
        batch = len(samples)
        views = len(feats) // batch
        feats = feats.reshape(views, batch, -1).transpose(0, 1)  # (B, V, D)
        indices = self._order[self._pos:self._pos + batch]
        if len(indices) != batch:
            raise RuntimeError('cache_image_features: the loader gave more '
                               'samples than its sampler')
        own = [s.metainfo.get('sample_idx') for s in samples]
        plain = not hasattr(self.dataloader.dataset, 'datasets') and \
            not hasattr(self.dataloader.dataset, 'dataset')
        if plain and None not in own and list(own) != indices.tolist():
            raise RuntimeError(
                'cache_image_features: the batch holds samples '
                f'{own[:4]}... but the sampler gave {indices[:4].tolist()}...'
                '; expected the default batch sampler')
        if self._feats is None:
            self.shape = (len(self.dataloader.dataset), ) + \
                tuple(feats.shape[1:])
            name = f'features_e{self._epoch:03d}.npy'
            self.shards.append(name)
            self._feats = np.lib.format.open_memmap(
                osp.join(self.out_dir, name), mode='w+',
                dtype=DTYPES[self.dtype], shape=self.shape)
        self._feats[indices] = feats.cpu().numpy().astype(DTYPES[self.dtype])
        self.labels[indices] = torch.cat(
            [s.gt_label for s in samples]).cpu().numpy()
        self._seen[indices] = True
        self._pos += batch
        self.runner.call_hook('after_train_iter', batch_idx=idx,
                              data_batch=data_batch, outputs={})
        self._iter += 1


def _build_config(cfg, epochs: int, tmp: str, dtype: str):
    """The config as the build runs it: the cache loop, no validation, no
    checkpoints, its work dir inside the temp folder."""
    cfg = copy.deepcopy(cfg)  # Config.copy() shares the nested dicts
    cfg.train_cfg = dict(type='ImageFeatureCacheLoop', max_epochs=epochs,
                         out_dir=tmp, dtype=dtype)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    hooks = dict(cfg.get('default_hooks') or {})
    cfg.default_hooks = dict(
        sampler_seed=hooks.get('sampler_seed',
                               dict(type='DistSamplerSeedHook')),
        checkpoint=None, logger=None,
        param_scheduler=None)
    cfg.custom_hooks = [h for h in (cfg.get('custom_hooks') or [])
                        if h.get('type') not in BUILD_SKIPS_HOOKS
                        and h.get('type') != 'ImageFeatureCacheHook']
    cfg.model.pop('image_feature_cache', None)
    cfg.param_scheduler = None
    cfg.resume, cfg.load_from = False, None
    cfg.work_dir = osp.join(tmp, '_work')
    cfg.launcher = 'none'
    return cfg


def build_feature_cache(cfg, epochs: int, out: str, dtype: str = 'fp16'
                        ) -> dict:
    """Run a training config's data once and store its image features.

    Args:
        cfg (Config): The training config (``--cfg-options`` applied).
        epochs (int): Epochs to store (a run of up to this many epochs can
            read the cache).
        out (str): The cache folder; replaced as a whole when complete.
        dtype (str): ``'fp16'`` (half the disk; features rounded to fp16)
            or ``'fp32'`` (the online features bit for bit). Defaults to
            ``'fp16'``.

    Returns:
        dict: The manifest.

    Raises:
        ValueError / FeatureCacheMismatch: One line, before any work.
    """
    if dtype not in DTYPES:
        raise ValueError(f'--dtype {dtype!r}: expected one of '
                         f'{sorted(DTYPES)}')
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f'--epochs {epochs}: expected an integer >= 1')
    if _seed(cfg) is None:
        raise ValueError('randomness.seed is not set: a run without a fixed '
                         'seed draws other augmentations every time, so it '
                         'cannot be cached; expected e.g. randomness.seed=42')
    if osp.exists(out) and not osp.isfile(osp.join(out, MANIFEST)) and \
            (not osp.isdir(out) or os.listdir(out)):
        raise ValueError(f'--out {out}: exists and is not an image-feature '
                         'cache (no manifest.json); expected a new or empty '
                         'folder or an older cache to replace')
    parent = osp.dirname(osp.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.' + osp.basename(osp.abspath(out)) + '.',
                           suffix='.tmp', dir=parent)
    try:
        start = time.time()
        runner = build_runner(_build_config(cfg, int(epochs), tmp, dtype))
        runner.train()
        loop = runner.train_loop
        model = unwrap_model(runner.model)
        dataset = loop.dataloader.dataset
        shutil.rmtree(osp.join(tmp, '_work'), ignore_errors=True)
        np.save(osp.join(tmp, 'labels.npy'), loop.labels)
        with_model = loop.torch_rng_in_pipeline
        manifest = {
            'format': FORMAT,
            'config_digest': _digest(image_config_parts(cfg, with_model)),
            'config_parts': image_config_parts(cfg, with_model),
            'clip_fingerprint': clip_identity(model.clip),
            'clip_model': getattr(model.clip, 'model_name', None),
            'seed': _seed(cfg),
            'epochs': int(epochs),
            'world_size': get_world_size(),
            'dataset': dataset_fingerprint(dataset),
            'dtype': dtype,
            'shape': list(loop.shape),  # (N, views, D) per shard
            'shards': loop.shards,
            'orders': [f'order_e{e:03d}.npy' for e in range(int(epochs))],
            'labels': 'labels.npy',
            'torch_rng_in_pipeline': with_model,
            'build_seconds': round(time.time() - start, 3),
        }
        atomic_write_text(osp.join(tmp, MANIFEST),
                          json.dumps(manifest, indent=1) + '\n')
        if osp.exists(out):  # an older cache: swap it out, then drop it
            old = tmp + '.old'
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
        return manifest
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


# -- read ------------------------------------------------------------------
def read_manifest(folder: str) -> dict:
    """The manifest of a cache folder (one line if there is none)."""
    path = osp.join(folder, MANIFEST)
    try:
        with open(path, encoding='utf-8') as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise FeatureCacheMismatch(
            f'model.image_feature_cache={folder}: cannot read {path} '
            f'({type(e).__name__}); expected a folder written by '
            'tools/cache_image_features.py') from None
    found = manifest.get('format') if isinstance(manifest, dict) else None
    if found != FORMAT:
        raise FeatureCacheMismatch(
            f'{path}: format {found!r}; expected {FORMAT!r}')
    return manifest


def check_manifest(manifest: dict, cfg, clip, dataset, max_epochs: int,
                   where: str) -> None:
    """Refuse a cache that is not this run's, naming the first differing
    manifest key (config part, ``clip_fingerprint``, ``seed``, ``epochs``,
    ``dataset``, ``world_size``)."""
    parts = image_config_parts(cfg, manifest.get('torch_rng_in_pipeline',
                                                 False))
    for key, digest in parts.items():
        cached = manifest.get('config_parts', {}).get(key)
        if cached != digest:
            raise FeatureCacheMismatch(
                f'{where}: manifest config_parts[{key!r}] is {cached}, this '
                f'run\'s {key} is {digest}; the cache was built for other '
                'images (rebuild it with tools/cache_image_features.py)')
    expect = {
        'clip_fingerprint': clip_identity(clip),
        'seed': _seed(cfg),
        'world_size': get_world_size(),
        'dataset': dataset_fingerprint(dataset),
    }
    for key, value in expect.items():
        if manifest.get(key) != value:
            raise FeatureCacheMismatch(
                f'{where}: manifest {key} is {manifest.get(key)!r}, this run '
                f'has {value!r}; rebuild the cache for this run')
    if int(manifest.get('epochs', 0)) < max_epochs:
        raise FeatureCacheMismatch(
            f'{where}: manifest epochs is {manifest.get("epochs")}, this run '
            f'trains {max_epochs} epochs; expected a cache of at least '
            f'{max_epochs} epochs (tools/cache_image_features.py --epochs '
            f'{max_epochs})')


class CachedImageFeatures(Dataset):
    """A training set served from a feature cache.

    Item ``i`` of the current epoch (:meth:`set_epoch`) is sample ``i``'s
    features, as the dummy image of a ``(3, 1, 1)`` zero tensor (so any
    image data preprocessor passes it through cheaply) and a
    :class:`DataSample` with ``gt_label`` and ``image_features``
    ((views, D) float32).

    Args:
        folder (str): The cache.
        manifest (dict): Its manifest (checked).
        metainfo (dict): The original dataset's (classes for
            ``VocabularyHook``).
    """

    def __init__(self, folder: str, manifest: dict, metainfo: dict) -> None:
        self.folder = folder
        self.manifest = manifest
        self.metainfo = metainfo
        self.labels = np.load(osp.join(folder, manifest['labels']))
        self.epoch = 0
        self._shards: Dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def shard(self, epoch: int) -> np.ndarray:
        if epoch not in self._shards:
            path = osp.join(self.folder, self.manifest['shards'][epoch])
            self._shards[epoch] = np.load(path, mmap_mode='r')
        return self._shards[epoch]

    def order(self, epoch: int) -> np.ndarray:
        return np.load(osp.join(self.folder, self.manifest['orders'][epoch]))

    def __getitem__(self, idx: int) -> dict:
        feats = torch.from_numpy(np.array(self.shard(self.epoch)[idx],
                                          dtype=np.float32))
        sample = DataSample().set_gt_label(int(self.labels[idx]))
        sample.set_field(feats, FEATURE_FIELD)
        return dict(inputs=torch.zeros(3, 1, 1, dtype=torch.uint8),
                    data_samples=sample)


def batch_image_features(data_samples) -> Optional[torch.Tensor]:
    """The cached (views * B, D) features of a batch, stacked view-major as
    the online model stacks its views, or None for an image batch."""
    if not data_samples or FEATURE_FIELD not in data_samples[0]:
        return None
    feats = torch.stack([s.get(FEATURE_FIELD) for s in data_samples], 1)
    return feats.reshape(-1, feats.shape[-1]).float()  # (V, B, D) -> (V*B, D)


@HOOKS.register_module()
class ImageFeatureCacheHook(Hook):
    """Serve training from ``model.image_feature_cache`` (a no-op without it).

    Before training: checks the cache's manifest against the run (one
    :class:`FeatureCacheMismatch` line otherwise) and replaces the training
    loader by one over :class:`CachedImageFeatures` with the run's own
    sampler, batch size and collate function (no workers: the reads are
    memory-mapped). Each epoch: the sampler's order must be the cached one.
    Runs after ``DistSamplerSeedHook`` and ``RandomStateHook``.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self) -> None:
        self.dataset: Optional[CachedImageFeatures] = None

    def before_train(self, runner) -> None:
        model = unwrap_model(runner.model)
        folder = getattr(model, 'image_feature_cache', None)
        if not folder:
            return
        where = f'model.image_feature_cache={folder}'
        loop = runner.train_loop
        loader = loop.dataloader
        manifest = read_manifest(folder)
        _check_loader(loader, where)
        check_manifest(manifest, runner.cfg, model.clip, loader.dataset,
                       loop.max_epochs, where)
        self.dataset = CachedImageFeatures(folder, manifest,
                                           getattr(loader.dataset, 'metainfo',
                                                   {}))
        if len(self.dataset) != len(loader.dataset):
            raise FeatureCacheMismatch(
                f'{where}: {len(self.dataset)} cached samples, the training '
                f'set has {len(loader.dataset)}; rebuild the cache')
        loop.dataloader = DataLoader(
            self.dataset, batch_size=loader.batch_size,
            sampler=loader.sampler, collate_fn=loader.collate_fn,
            drop_last=loader.drop_last, num_workers=0)
        print_log(f'ImageFeatureCacheHook: training from {folder} '
                  f'({manifest["dtype"]}, {manifest["epochs"]} epochs, '
                  f'features {manifest["shape"]}); the data pipeline and '
                  'the image tower do not run', logger='current',
                  level=logging.INFO)

    def before_train_epoch(self, runner) -> None:
        if self.dataset is None:
            return
        epoch = runner.epoch
        self.dataset.set_epoch(epoch)
        order = _epoch_order(runner.train_loop.dataloader)
        cached = self.dataset.order(epoch)
        if not np.array_equal(order[:len(cached)], cached):
            raise FeatureCacheMismatch(
                f'model.image_feature_cache={self.dataset.folder}: epoch '
                f'{epoch}\'s sample order differs from the cached one '
                f'({self.dataset.manifest["orders"][epoch]}); rebuild it')


# -- zero-shot: the same images under many vocabularies ---------------------
class ImageFeatureMemo:
    """In-memory image features of test batches, for zero-shot tests of many
    vocabularies over one dataset.

    Key: the preprocessed batch's pixels (SHA-1 of the tensor's bytes, its
    shape and dtype, so image content and test pipeline) and the CLIP's
    weight fingerprint. The frozen image tower is a function of exactly
    these, so a hit returns the features it would compute.

    Use::

        memo = ImageFeatureMemo()
        for vocab in vocabularies:
            model.set_vocabulary(vocab)
            with memo.attached(model):
                ... model(**data, mode='predict') ...

    Attributes:
        hits (int): Batches answered from memory.
        misses (int): Batches that ran the image tower.
    """

    def __init__(self) -> None:
        self._store: Dict[tuple, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0

    def attached(self, model):
        """A context in which ``model.extract_feat`` goes through the
        memo."""
        memo = self

        @contextlib.contextmanager
        def attach():
            clip = clip_identity(model.clip)
            inner = model.extract_feat

            def extract_feat(images: torch.Tensor) -> torch.Tensor:
                array = images.detach().cpu().contiguous()
                key = (clip, tuple(array.shape), str(array.dtype),
                       hashlib.sha1(array.numpy().tobytes()).hexdigest())
                if key in memo._store:
                    memo.hits += 1
                    return memo._store[key].to(images.device).clone()
                memo.misses += 1
                feats = inner(images)
                memo._store[key] = feats.detach().cpu().clone()
                return feats

            model.extract_feat = extract_feat
            try:
                yield memo
            finally:
                del model.extract_feat  # the class method again

        return attach()

    def __len__(self) -> int:
        return len(self._store)


__all__ = [
    'FORMAT', 'MANIFEST', 'FeatureCacheMismatch', 'ImageFeatureCacheLoop',
    'build_feature_cache', 'read_manifest', 'check_manifest',
    'CachedImageFeatures', 'ImageFeatureCacheHook', 'batch_image_features',
    'image_config_parts', 'clip_identity', 'ImageFeatureMemo'
]
