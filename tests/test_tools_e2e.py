"""End to end through tools/: train -> prompt file -> test / dump / resume."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from pomp_mm.core import load_prompt_ctx
from pomp_mm.engine import dump_text_features as dump_cli
from pomp_mm.engine import test as engine_test
from pomp_mm.engine import train as engine_train

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'pomp', 'pretrain.py')
pytestmark = pytest.mark.slow




def _options(tmp_path, epochs=2):
    data = str(tmp_path / 'data')
    gen = 'train_dataloader.dataset.generate_cfg'
    return [
        f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        f'test_dataloader.dataset.data_root={data}',
        f'{gen}.num_classes=6', f'{gen}.train_per_class=4',
        f'{gen}.val_per_class=2',
        'train_dataloader.batch_size=8', 'val_dataloader.batch_size=8',
        'test_dataloader.batch_size=8',
        'model.loss.num_classes_per_step=4',
        f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=1',
        'default_hooks.logger.interval=1',
    ]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('run')
    work = tmp / 'work'
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), CONFIG,
           '--work-dir', str(work), '--cfg-options', *_options(tmp)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp, work


def test_train_writes_official_prompt_files(trained):
    _, work = trained
    for name in ('prompt_epoch_1.pth', 'prompt_epoch_2.pth',
                 'prompt_latest.pth', 'epoch_2.pth'):
        assert (work / name).is_file(), name
    raw = torch.load(work / 'prompt_epoch_2.pth', weights_only=True)
    assert list(raw['state_dict']) == ['ctx'] and raw['epoch'] == 2
    assert raw['state_dict']['ctx'].shape == (4, 64)
    full = load_prompt_ctx(str(work / 'epoch_2.pth'))
    assert torch.equal(full, raw['state_dict']['ctx'])
    first = torch.load(work / 'prompt_epoch_1.pth', weights_only=True)
    assert not torch.equal(first['state_dict']['ctx'],
                           raw['state_dict']['ctx'])  # it trained


def test_test_tool_with_prompt_and_full_checkpoint(trained):
    tmp, work = trained
    test = engine_test
    results = []
    for ckpt in ('prompt_latest.pth', 'epoch_2.pth'):
        out = tmp / f'metrics_{ckpt}.json'
        metrics = test.main([CONFIG, str(work / ckpt), '--work-dir',
                             str(tmp / 'test'), '--out-metrics', str(out),
                             '--cfg-options', *_options(tmp)])
        assert json.loads(out.read_text()) == pytest.approx(metrics)
        results.append(metrics['accuracy/top1'])
    assert 0 <= results[0] <= 100 and results[0] == results[1]


def test_dump_text_features_reads_trained_prompt(trained):
    tmp, work = trained
    dump = dump_cli
    names = tmp / 'names.txt'
    names.write_text('red circle\nblue star\n')
    out = tmp / 'feats.npy'
    dump.main(['--model', 'pomp-tiny-vit', '--random-init', '--prompt',
               str(work / 'prompt_latest.pth'), '--classes', str(names),
               '--out', str(out)])
    feats = np.load(out)
    assert feats.shape == (2, 64) and feats.dtype == np.float32


def test_resume_continues_from_checkpoint(trained):
    tmp, work = trained
    train = engine_train
    resumed = tmp / 'resumed'
    train.main([CONFIG, '--work-dir', str(resumed), '--resume',
                str(work / 'epoch_1.pth'), '--cfg-options', *_options(tmp)])
    assert not (resumed / 'prompt_epoch_1.pth').exists()  # epoch 1 skipped
    raw = torch.load(resumed / 'prompt_epoch_2.pth', weights_only=True)
    assert raw['epoch'] == 2


def test_bad_cli_inputs_one_line(tmp_path, capsys):
    train = engine_train
    with pytest.raises(SystemExit) as e:
        train.main([CONFIG, '--cfg-options', 'model.loss.num_clases_per_step=3'])
    assert "did you mean 'num_classes_per_step'" in str(e.value.code)
    with pytest.raises(SystemExit) as e:
        train.main([str(tmp_path / 'nope.py')])
    assert 'does not exist' in str(e.value.code)
    ro = tmp_path / 'ro'
    ro.mkdir()
    ro.chmod(0o500)
    if not __import__('os').access(ro, __import__('os').W_OK):
        with pytest.raises(SystemExit) as e:
            train.main([CONFIG, '--work-dir', str(ro / 'w')])
        assert 'not writable' in str(e.value.code)


def test_two_process_gloo_train_and_test_match_one_process(trained):
    """tools/dist_train.sh / dist_test.sh on CPU (gloo, 2 processes): the
    2-process test of a prompt equals the 1-process test of it."""
    tmp, work = trained
    dist = tmp / 'dist'
    env = dict(os.environ, PORT=str(29500 + os.getpid() % 1000),
               PYTHON=sys.executable)  # the interpreter running the tests
    opts = ['--cfg-options', *_options(tmp, epochs=1)]
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), CONFIG, '2',
         '--work-dir', str(dist), *opts], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (dist / 'prompt_epoch_1.pth').is_file()
    out2 = tmp / 'dist_metrics.json'
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_test.sh'), CONFIG,
         str(work / 'prompt_latest.pth'), '2', '--work-dir', str(dist),
         '--out-metrics', str(out2), *opts], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = engine_test.main([CONFIG, str(work / 'prompt_latest.pth'),
                                 '--work-dir', str(tmp / 'single'), *opts])
    assert json.loads(out2.read_text()) == pytest.approx(single)


def test_finish_distributed_leaves_the_group(tmp_path):
    """train.py / test.py leave the gloo group of a --launcher pytorch run
    at the end (a rank exiting with it alive could abort in teardown);
    without a group, or for another launcher, it is a no-op."""
    import torch.distributed as dist
    from mmengine.config import Config

    from pomp_mm.utils.cli import finish_distributed
    pytorch = Config(dict(launcher='pytorch'))
    finish_distributed(pytorch)  # no group: nothing happens
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store',
                            rank=0, world_size=1)
    try:
        finish_distributed(Config(dict(launcher='none')))
        assert dist.is_initialized()  # not the tool's group: left alone
        finish_distributed(pytorch)
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
