"""A user's own project, in a folder outside the checkout, inherits one of
pomp_mm's configs with ``pomp_mm.config_path`` and runs it: under plain
Runner.from_cfg, pomp_mm's tools/train.py and mmpretrain's own
tools/train.py. MMEngine's package scope (``pomp_mm::``) needs the
interpreter-start hook prototyped in pomp_mm.compat.mmengine_config."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

import pomp_mm
from pomp_mm.compat import mmengine_config
from pomp_mm.core.checkpoint import read_prompt_file

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs')
BASE = "_base_ = [__import__('pomp_mm').config_path({name!r})]\n"


def _user_config(folder, name, body=''):
    """Write ``folder/my_config.py`` inheriting pomp_mm config ``name``."""
    path = osp.join(str(folder), 'my_config.py')
    with open(path, 'w') as f:
        f.write(BASE.format(name=name) + body)
    assert not osp.realpath(path).startswith(osp.realpath(ROOT) + os.sep)
    return path


def _tiny_demo(data):
    """The user config's lines: pomp/pretrain.py on 16 generated classes,
    one image each, 2 training iterations of 8 (K=16 needs 16 classes)."""
    return (
        f'data_root = {data!r}\n'
        'train_dataloader = dict(batch_size=8, dataset=dict('
        'data_root=data_root,'
        ' generate_cfg=dict(num_classes=16, train_per_class=1,'
        ' val_per_class=1)))\n'
        'val_dataloader = dict(dataset=dict(data_root=data_root))\n'
        'test_dataloader = dict(dataset=dict(data_root=data_root))\n'
        'train_cfg = dict(max_epochs=1, val_interval=1)\n'
        'default_hooks = dict(logger=dict(interval=1))\n')


def test_every_config_is_shipped_with_the_package():
    root = mmengine_config.configs_root()
    assert root == osp.join(osp.dirname(pomp_mm.__file__), '.mim', 'configs')
    files = sorted(osp.relpath(p, CONFIGS) for p in glob.glob(
        osp.join(CONFIGS, '**', '*.py'), recursive=True))
    assert len(files) > 100
    for name in files:
        assert osp.samefile(pomp_mm.config_path(name),
                            osp.join(CONFIGS, name)), name


@pytest.mark.parametrize('name,message', [
    ('pomp/nope.py', "pomp_mm config 'pomp/nope.py' does not exist (looked "
     "for {root!r}); expected a path relative to pomp_mm's configs folder, "
     "e.g. 'miniworld/zeroshot.py'"),
    ('../setup.py', "pomp_mm config '../setup.py': expected a .py path "
     "relative to pomp_mm's configs folder, e.g. 'miniworld/zeroshot.py'"),
    ('pomp', "pomp_mm config 'pomp': expected a .py path relative to "
     "pomp_mm's configs folder, e.g. 'miniworld/zeroshot.py'"),
])
def test_config_path_refuses_what_is_not_shipped(name, message):
    with pytest.raises(FileNotFoundError) as e:
        pomp_mm.config_path(name)
    root = osp.join(mmengine_config.configs_root(), name)
    assert str(e.value) == message.format(root=root)


@pytest.mark.parametrize('name', [
    'pomp/pretrain.py', 'miniworld/zeroshot.py',
    'det/ov-coco_pomp_faster-rcnn_r50_fpn_1x.py',  # its bases: mmdet::
    'seg/pomp_maskclip_vit-b16_voc-15-5.py'])
def test_user_config_is_the_inherited_config(tmp_path, name):
    """Parsed from outside the checkout, a config that only inherits is
    the checkout's config, key for key (for cls, det and seg), and one
    the user overrides changes that key alone."""
    ours = Config.fromfile(osp.join(CONFIGS, name)).to_dict()
    user = Config.fromfile(_user_config(tmp_path, name)).to_dict()
    assert user == ours
    changed = Config.fromfile(_user_config(
        tmp_path, name, 'work_dir = "mine"\n')).to_dict()
    assert changed == dict(ours, work_dir='mine')


def _ran(work_dir):
    """The prompt file a 2-iteration run saved, and its ctx."""
    prompts = glob.glob(osp.join(work_dir, 'prompt_epoch_1.pth'))
    assert prompts, os.listdir(work_dir)
    return read_prompt_file(prompts[0])['state_dict']['ctx']


def test_user_config_trains_under_runner_from_cfg(tmp_path, monkeypatch):
    from mmengine.runner import Runner
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(_user_config(tmp_path, 'pomp/pretrain.py',
                                       _tiny_demo(str(tmp_path / 'data'))))
    cfg.work_dir = str(tmp_path / 'w')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    ctx = _ran(cfg.work_dir)
    assert ctx.shape == (4, 64)
    assert torch.equal(ctx, runner.model.prompt_learner.ctx.detach())


@pytest.mark.slow
def test_user_config_trains_under_stock_mmpretrain_train(tmp_path):
    """mmpretrain's own tools/train.py, run in the user's folder: it adds
    persistent_workers=True to loaders that do not say False (num_workers=0
    then fails in torch), and default_collate."""
    import mmpretrain
    tool = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools',
                    'train.py')
    config = _user_config(tmp_path, 'pomp/pretrain.py',
                          _tiny_demo(str(tmp_path / 'data')))
    work = str(tmp_path / 'w')
    proc = subprocess.run([sys.executable, tool, config, '--work-dir', work],
                          cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1][2/2]' in log
    assert 'accuracy/top1' in log
    assert _ran(work).shape == (4, 64)


def test_pomp_mm_scope_needs_the_interpreter_start_hook(tmp_path,
                                                        monkeypatch):
    """``_base_ = 'pomp_mm::...'``: refused by MMEngine 0.10.7 itself; with
    install_config_scope() (prototype for the .pth hook) the same config as
    config_path(), with no ``_scope_`` added."""
    path = osp.join(str(tmp_path), 'scoped.py')
    with open(path, 'w') as f:
        f.write("_base_ = 'pomp_mm::pomp/pretrain.py'\n")
    monkeypatch.setattr(Config, '_get_cfg_path',
                        Config.__dict__['_get_cfg_path'])  # restored after
    with pytest.raises(AssertionError,
                       match='mmengine does not support to load pomp_mm'):
        Config.fromfile(path)
    assert mmengine_config.install_config_scope() is True
    assert mmengine_config.install_config_scope() is False  # idempotent
    ours = Config.fromfile(osp.join(CONFIGS, 'pomp/pretrain.py')).to_dict()
    assert Config.fromfile(path).to_dict() == ours
    # other scopes still go to MMEngine's own resolver
    name = 'det/ov-coco_pomp_faster-rcnn_r50_fpn_1x.py'
    assert Config.fromfile(_user_config(tmp_path, name)).to_dict() == \
        Config.fromfile(osp.join(CONFIGS, name)).to_dict()
