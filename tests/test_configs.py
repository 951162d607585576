"""Configs parse, build and follow the paper recipe."""
import ast
import copy
import functools
import math
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import pomp_mm.cls  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAPER = ['configs/pomp/pomp_vit-b16_nctx4_ep5_in21k.py',
         'configs/pomp/pomp_vit-b16_nctx16_ep20_in21k.py']


@pytest.mark.parametrize('path,n_ctx,epochs', [
    (PAPER[0], 4, 5), (PAPER[1], 16, 20)])
def test_paper_recipes(path, n_ctx, epochs):
    cfg = Config.fromfile(osp.join(ROOT, path))
    assert cfg.model.prompt_learner.n_ctx == n_ctx
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.model.loss.num_classes_per_step == 1000
    assert cfg.model.prompt_learner.clip.model_name == 'ViT-B-16'
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == (
        'SGD', 0.002, 0.9, 5e-4)
    assert cfg.train_dataloader.batch_size == 32
    views = cfg.train_dataloader.dataset.pipeline[1]
    assert views.type == 'MultiView' and views.num_views == 4
    assert cfg.train_dataloader.dataset.num_shots == 16


@pytest.mark.parametrize('path', PAPER)
def test_paper_lr_schedule(path):
    """Epoch 0 at 1e-5, epoch e>=1 at 0.002 (1 + cos(pi (e-1) / E)) / 2."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import PARAM_SCHEDULERS
    cfg = Config.fromfile(osp.join(ROOT, path))
    epochs = cfg.train_cfg.max_epochs
    model = torch.nn.Linear(1, 1)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    schedulers = [PARAM_SCHEDULERS.build(
        dict(s, epoch_length=1), default_args=dict(optimizer=wrapper))
        for s in cfg.param_scheduler]
    got = []
    for _ in range(epochs):
        got.append(wrapper.get_lr()['lr'][0])
        for s in schedulers:
            s.step()
    want = [1e-5] + [0.002 * (1 + math.cos(math.pi * (e - 1) / epochs)) / 2
                     for e in range(1, epochs)]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_multiview_randaugment_pipeline():
    from mmengine.dataset import Compose
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, PAPER[0]))
    pipeline = Compose(cfg.train_pipeline[1:])  # skip file loading
    img = np.random.default_rng(0).integers(0, 255, (300, 260, 3),
                                            dtype=np.uint8)
    out = pipeline(dict(img=img, gt_label=3))
    assert len(out['inputs']) == 4
    assert all(v.shape == (3, 224, 224) for v in out['inputs'])
    assert not torch.equal(out['inputs'][0], out['inputs'][1])


def test_paper_model_builds_with_tiny_clip():
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, PAPER[1]))
    cfg.model.prompt_learner.clip = dict(type='FrozenCLIP',
                                         model_name='pomp-test-vit')
    model = MODELS.build(cfg.model)
    assert model.prompt_learner.ctx.shape == (16, 32)
    assert model.loss_module.num_classes_per_step == 1000


# -- the config tree ----------------------------------------------------------
def _all_configs():
    root = osp.join(ROOT, 'configs')
    return sorted(osp.relpath(osp.join(d, f), ROOT)
                  for d, _, files in os.walk(root) for f in files
                  if f.endswith('.py'))


def _in_repo_bases(path):
    """The in-repo ``_base_`` files of a config (``mmdet::`` and the other
    codebases' bases are not counted)."""
    tree = ast.parse(open(osp.join(ROOT, path)).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '_base_' for t in node.targets):
            bases = ast.literal_eval(node.value)
            bases = [bases] if isinstance(bases, str) else bases
            return [osp.normpath(osp.join(osp.dirname(path), b))
                    for b in bases if '::' not in b]
    return []


def _depth(path):
    """In-repo inheritance levels above ``path`` (0: none)."""
    return max((1 + _depth(b) for b in _in_repo_bases(path)), default=0)


def test_config_tree_is_at_most_two_levels_deep():
    configs = _all_configs()
    assert len(configs) > 100
    deep = {p: _depth(p) for p in configs if _depth(p) > 2}
    assert not deep, f'more than two in-repo _base_ levels: {deep}'
    # the walk counts what it should: a cls config is two levels deep
    assert _depth('configs/cls/pomp/dtd.py') == 2
    assert _depth('configs/det/_base_/pomp_faster-rcnn_fpn.py') == 0


@pytest.mark.parametrize('path', _all_configs())
def test_every_config_loads(path):
    cfg = Config.fromfile(osp.join(ROOT, path))
    assert cfg.to_dict()
    bases = _in_repo_bases(path)
    assert all(osp.isfile(osp.join(ROOT, b)) for b in bases), bases


def _zoo(path):
    return Config.fromfile(osp.join(ROOT, 'configs', 'zoo', path)).to_dict()


def test_zoo_tip_adapter_f_is_tip_adapter_with_learnable_keys():
    """Tip-Adapter-F spells out Tip-Adapter's model and hooks (one level of
    inheritance); they must stay the same but for the learnable keys."""
    tip, tip_f = _zoo('tip_adapter/miniworld_b2n.py'), _zoo(
        'tip_adapter_f/miniworld_b2n.py')
    assert tip_f['model'] == dict(tip['model'], learnable_keys=True)
    assert tip['model']['learnable_keys'] is False
    assert tip_f['custom_hooks'] == tip['custom_hooks']
    assert tip_f['optim_wrapper'] == dict(optimizer=dict(
        type='AdamW', lr=1e-3, eps=1e-4, weight_decay=0.01))
    assert tip_f['train_cfg']['max_epochs'] == 20


def test_zoo_coop_pomp_init_is_coop_started_from_the_prompt():
    coop, init = _zoo('coop/miniworld_b2n.py'), _zoo(
        'coop/miniworld_b2n_pomp-init.py')
    learner = dict(coop['model']['prompt_learner'], n_ctx=None,
                   prompt_checkpoint=coop['pomp_prompt'])
    assert init['model'] == dict(coop['model'], prompt_learner=learner)
    assert {k: v for k, v in init.items() if k != 'model'} == \
        {k: v for k, v in coop.items() if k != 'model'}


DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    return str(tmp_path_factory.mktemp('work'))


@functools.lru_cache(maxsize=None)
def _dataloaders(path, work):
    """(``Config.fromfile``'s dataloaders, those ``load_config`` hands the
    runner, the default scope) of ``path``, loaded once through pomp_mm's
    loader with mmengine's own result captured on the way."""
    import argparse
    from unittest import mock

    from pomp_mm.utils.cli import load_config
    fromfile, seen = Config.fromfile, []

    def capture(*args, **kwargs):
        cfg = fromfile(*args, **kwargs)
        seen.append(copy.deepcopy(cfg))
        return cfg

    args = argparse.Namespace(config=osp.join(ROOT, path), local_rank=0,
                              launcher='none', cfg_options=None,
                              work_dir=work)
    with mock.patch.object(Config, 'fromfile', side_effect=capture), \
            mock.patch.dict(os.environ, {'LOCAL_RANK': '0'}):
        loaded = load_config(args)
    raw = seen[0]
    return ({f: raw[f].to_dict() for f in DATALOADERS if raw.get(f)},
            {f: loaded[f].to_dict() for f in DATALOADERS if loaded.get(f)},
            raw.get('default_scope'))


_RUNNABLE = [p for p in _all_configs() if '/_base_/' not in p]


def test_runnable_configs_are_many_and_have_dataloaders():
    # the walks below see the configs they should
    assert len(_RUNNABLE) > 90
    assert 'configs/pomp/pretrain.py' in _RUNNABLE
    assert 'configs/miniworld/det_ov.py' in _RUNNABLE


@pytest.mark.parametrize('path', _RUNNABLE)
def test_pomp_loader_adds_nothing_to_dataloaders(path, work):
    """tools/train.py and test.py run a config's dataloaders as written, as
    Runner.from_cfg and each codebase's own tools do (no hidden collate_fn)."""
    raw, loaded, scope = _dataloaders(path, work)
    assert loaded == raw
    if scope == 'mmpretrain':
        # mmpretrain's tools/train.py fills in default_collate, Runner.from_cfg
        # pseudo_collate: a cls config states it, so both run the same
        for field, loader in raw.items():
            assert loader.get('collate_fn') == {'type': 'default_collate'}, \
                f'{path} {field}'


@pytest.mark.parametrize('path', _RUNNABLE)
def test_persistent_workers_only_with_workers(path, work):
    """torch refuses persistent_workers with num_workers=0, and mmpretrain's
    tools/train.py sets persistent_workers=True unless a config says False:
    a loader without workers states False."""
    raw, _, _ = _dataloaders(path, work)
    for field, loader in raw.items():
        workers = loader.get('num_workers', 0)
        if workers == 0:
            assert loader.get('persistent_workers') is False, \
                f'{path} {field}: num_workers=0 needs persistent_workers=False'
