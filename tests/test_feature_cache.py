"""The exact image-feature cache (pomp_mm.cls.feature_cache).

A tiny POMP training (configs/pomp/pretrain.py on the random 'pomp-test-vit'
CLIP, six generated class folders of 4 images, batch 4, 2 views, 2 epochs =
12 SGD steps, seed 7; the config of tests/test_reliability.py) runs online
and from a cache, in this process and with one thread.

Tolerances, from the computation:

* fp32 cache: the build runs the same batches (same samples, same views,
  same order) through the same image tower as the online step, so every
  feature is the same float (no reduction runs over another batch
  composition); the 12 SGD steps then see identical inputs and the ctx
  must be bit-identical (tolerance 0).
* fp16 cache: the only difference is that each stored feature is rounded to
  fp16. The reference is therefore the online run with its features rounded
  to fp16 (``.half().float()``, the same rounding), again bit-identical;
  the distance to the unrounded online run is not asserted (it depends on
  how the loss amplifies a relative change of at most 2**-11 per feature),
  only that it is small against how far ctx moved.
"""
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from mmengine.runner import Runner

import pomp_mm.cls  # noqa: F401  (registers the model, loop and hook)
from pomp_mm.cls import PromptCLIPClassifier
from pomp_mm.cls.datasets import ClassFolderDataset
from pomp_mm.cls.feature_cache import (MANIFEST, CachedImageFeatures,
                                       ImageFeatureMemo, build_feature_cache)
from pomp_mm.core import FrozenCLIP
from pomp_mm.engine import cache_image_features as cache_cli
from pomp_mm.engine import train as engine_train

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from test_reliability import (CLASSES, make_class_folders,  # noqa: E402
                              tiny_pretrain_config)

EPOCHS = 2


@pytest.fixture(autouse=True)
def _restore_torch_globals():
    det = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(det)


def _config(data, clip_weights, work, epochs=EPOCHS, cache=None):
    cfg = tiny_pretrain_config(data, clip_weights, epochs)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint['overwrite'] = True
    cfg.work_dir = str(work)
    cfg.log_level = 'WARNING'
    if cache is not None:
        cfg.model.image_feature_cache = str(cache)
        cfg.custom_hooks.append(dict(type='ImageFeatureCacheHook'))
    return cfg


def _train(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner.model.prompt_learner.ctx.detach().clone()


class _CountImages:
    """Counts calls of the image tower (FrozenCLIP.encode_image)."""

    def __init__(self, monkeypatch):
        self.calls = 0
        inner = FrozenCLIP.encode_image

        def encode_image(clip, images, normalize=False):
            self.calls += 1
            return inner(clip, images, normalize)

        monkeypatch.setattr(FrozenCLIP, 'encode_image', encode_image)


@pytest.fixture(scope='module')
def world(tmp_path_factory, clip_weights):
    """The data, the two caches (built by the tool) and the online ctx."""
    tmp = tmp_path_factory.mktemp('featcache')
    data = make_class_folders(str(tmp / 'data'))
    cfg_file = str(tmp / 'run.py')
    _config(data, clip_weights, tmp / 'build').dump(cfg_file)
    cached_file = str(tmp / 'run_cached.py')
    _config(data, clip_weights, tmp / 'build',
            cache=tmp / 'cache_fp16').dump(cached_file)
    caches = {}
    for dtype in ('fp32', 'fp16'):
        caches[dtype] = str(tmp / f'cache_{dtype}')
        cache_cli.main([cfg_file, '--epochs', str(EPOCHS), '--out',
                        caches[dtype], '--dtype', dtype])
    online = _train(_config(data, clip_weights, tmp / 'online'))
    return dict(tmp=tmp, data=data, cfg_file=cfg_file,
                cached_file=cached_file, caches=caches,
                online=online, clip=clip_weights)


def test_manifest_and_shards(world):
    cache = world['caches']['fp16']
    manifest = json.load(open(osp.join(cache, MANIFEST)))
    assert manifest['epochs'] == EPOCHS and manifest['seed'] == 7
    assert manifest['shape'] == [24, 2, 32]  # 24 images, 2 views, D=32
    assert manifest['dtype'] == 'fp16' and manifest['dataset']['samples'] \
        == 24
    assert manifest['clip_fingerprint'].startswith('sha256:')
    feats = np.load(osp.join(cache, manifest['shards'][1]), mmap_mode='r')
    assert isinstance(feats, np.memmap) and feats.dtype == np.float16
    # every sample once per epoch, unit-norm features, labels of the folders
    for order in manifest['orders']:
        assert sorted(np.load(osp.join(cache, order)).tolist()) == \
            list(range(24))
    norms = np.linalg.norm(feats.astype(np.float32), axis=-1)
    assert np.abs(norms - 1).max() < 1e-2  # fp16 rounding of unit vectors
    labels = np.load(osp.join(cache, 'labels.npy'))
    assert sorted(labels.tolist()) == sorted(list(range(6)) * 4)
    # the augmentations differ between epochs and between views
    e0 = np.load(osp.join(cache, manifest['shards'][0]))
    assert not np.array_equal(e0, feats)
    assert not np.array_equal(e0[:, 0], e0[:, 1])
    assert not [n for n in os.listdir(osp.dirname(cache)) if '.tmp' in n]


def test_fp32_cache_gives_the_online_ctx(world, monkeypatch):
    counter = _CountImages(monkeypatch)
    cached = _train(_config(world['data'], world['clip'],
                            world['tmp'] / 'from32',
                            cache=world['caches']['fp32']))
    assert counter.calls == 0  # no image tower (and no data pipeline)
    assert torch.equal(cached, world['online'])
    # the control: the same features with epoch 0's served in epoch 1 (the
    # order and the augmentations per epoch matter, and the test sees it)
    monkeypatch.setattr(CachedImageFeatures, 'set_epoch',
                        lambda self, epoch: setattr(self, 'epoch', 0))
    stale = _train(_config(world['data'], world['clip'],
                           world['tmp'] / 'stale',
                           cache=world['caches']['fp32']))
    assert not torch.allclose(stale, world['online'], atol=1e-6)


def test_one_cache_serves_other_prompt_and_loss_settings(world):
    """A sweep's use: the cache built from the n_ctx 4 / log-e config gives
    the n_ctx 8 / log-10 run its online ctx too (the prompt's
    initialisation draws from torch's RNG, the augmentations do not)."""
    def other(cfg):
        cfg.model.prompt_learner.n_ctx = 8
        cfg.model.loss.log_base = 10
        return cfg

    online = _train(other(_config(world['data'], world['clip'],
                                  world['tmp'] / 'online8')))
    cached = _train(other(_config(world['data'], world['clip'],
                                  world['tmp'] / 'cached8',
                                  cache=world['caches']['fp32'])))
    assert online.shape[0] == 8 and torch.equal(cached, online)


def test_fp16_cache_is_the_online_run_with_fp16_features(world,
                                                         monkeypatch):
    cached = _train(_config(world['data'], world['clip'],
                            world['tmp'] / 'from16',
                            cache=world['caches']['fp16']))
    inner = PromptCLIPClassifier.extract_feat
    monkeypatch.setattr(PromptCLIPClassifier, 'extract_feat',
                        lambda self, images: inner(self, images).half()
                        .float())
    rounded = _train(_config(world['data'], world['clip'],
                             world['tmp'] / 'online16'))
    assert torch.equal(cached, rounded)
    init = _config(world['data'], world['clip'], world['tmp'] / 'x')
    moved = (world['online'] - _initial_ctx(init)).abs().max()
    assert (cached - world['online']).abs().max() < 0.01 * moved


def _initial_ctx(cfg):
    return Runner.from_cfg(cfg).model.prompt_learner.ctx.detach().clone()


def _refusal(world, tmp, *options):
    with pytest.raises(SystemExit) as e:
        engine_train.main([world['cached_file'], '--work-dir', str(tmp),
                           '--cfg-options', *options])
    message = str(e.value.code)
    assert message.startswith('train.py: error: ') and '\n' not in message
    return message


def test_stale_cache_is_refused_naming_the_key(world, tmp_path):
    # one epoch more than cached
    msg = _refusal(world, tmp_path / 'a', 'train_cfg.max_epochs=3')
    assert 'manifest epochs is 2, this run trains 3 epochs' in msg
    msg = _refusal(world, tmp_path / 'b', 'randomness.seed=8')
    assert 'manifest seed is 7, this run has 8' in msg
    msg = _refusal(world, tmp_path / 'c', 'train_dataloader.batch_size=3')
    assert "config_parts['train_dataloader.batch_size']" in msg
    msg = _refusal(world, tmp_path / 'd',
                   'train_dataloader.dataset.pipeline.1.num_views=3')
    assert "config_parts['train_dataloader.dataset']" in msg


def test_one_epoch_cache_refused_for_two(world, tmp_path):
    short = str(tmp_path / 'short')
    cache_cli.main([world['cfg_file'], '--epochs', '1', '--out', short])
    cfg = _config(world['data'], world['clip'], tmp_path / 'w', cache=short)
    with pytest.raises(Exception, match='manifest epochs is 1, this run '
                       'trains 2 epochs'):
        _train(cfg)


def test_other_clip_is_refused(world, tmp_path):
    torch.manual_seed(1)
    other = str(tmp_path / 'other.pt')
    torch.save(FrozenCLIP('pomp-test-vit').model.state_dict(), other)
    cfg = _config(world['data'], other, tmp_path / 'w',
                  cache=world['caches']['fp16'])
    with pytest.raises(Exception, match='manifest clip_fingerprint'):
        _train(cfg)


def test_model_flag_without_hook_is_one_error(world, tmp_path):
    cfg = _config(world['data'], world['clip'], tmp_path / 'w')
    cfg.model.image_feature_cache = world['caches']['fp16']
    with pytest.raises(RuntimeError, match='ImageFeatureCacheHook'):
        _train(cfg)


# -- zero-shot over many vocabularies ---------------------------------------
def test_zero_shot_memo_skips_the_image_tower(world, monkeypatch):
    torch.manual_seed(3)
    model = PromptCLIPClassifier(prompt_learner=dict(
        type='PompPromptLearner', n_ctx=4,
        clip=dict(type='FrozenCLIP', model_name='pomp-test-vit',
                  checkpoint=world['clip'])))
    model.eval()
    dataset = ClassFolderDataset(world['data'], pipeline=[
        dict(type='LoadImageFromFile'), dict(type='PackInputs')])
    batches = [default_collate([dataset[i] for i in range(j, j + 8)])
               for j in range(0, 24, 8)]
    vocabularies = [CLASSES, CLASSES[::-1], CLASSES[:3] + ['grey dot'],
                    CLASSES]

    def scores(vocab):
        model.set_vocabulary(vocab)
        out = []
        for batch in batches:
            data = model.data_preprocessor(batch, False)
            out += [s.pred_score for s in model(**data, mode='predict')]
        return torch.stack(out)

    counter = _CountImages(monkeypatch)
    plain = [scores(v) for v in vocabularies]
    assert counter.calls == len(vocabularies) * len(batches)
    memo = ImageFeatureMemo()
    counter.calls = 0
    memoized = []
    for i, vocab in enumerate(vocabularies):
        with memo.attached(model):
            memoized.append(scores(vocab))
        assert counter.calls == len(batches)  # the first vocabulary only
    assert memo.hits == (len(vocabularies) - 1) * len(batches)
    for a, b in zip(plain, memoized):
        assert torch.equal(a, b)
    assert not torch.equal(plain[0], plain[1])  # the vocabularies differ
    assert 'extract_feat' not in vars(model)  # detached afterwards


def test_build_refuses_bad_inputs_in_one_line(world, tmp_path):
    taken = tmp_path / 'taken'
    taken.mkdir()
    (taken / 'x.txt').write_text('not a cache')
    cases = [(['--out', str(taken)], 'is not an image-feature cache'),
             (['--out', str(tmp_path / 'c'), '--cfg-options',
               'randomness.seed=None'], 'randomness.seed is not set')]
    for extra, expected in cases:
        with pytest.raises(SystemExit) as e:
            cache_cli.main([world['cfg_file'], '--epochs', '1', *extra])
        message = str(e.value.code)
        assert message.startswith('cache_image_features.py: error: ')
        assert expected in message and '\n' not in message
    assert os.listdir(taken) == ['x.txt']
    assert not osp.exists(tmp_path / 'c')
