"""pomp_mm's demo config, as shipped, under mmpretrain's own tools/train.py.

mmpretrain's train.py fills in ``persistent_workers=True`` (and
``default_collate``) for every dataloader that does not say otherwise; a
loader with ``num_workers=0`` then fails in torch's DataLoader. The configs
say ``persistent_workers=False`` there (tests/test_configs.py walks them
all); this runs the demo end to end on a few generated images."""
import os.path as osp
import subprocess
import sys

import pytest

from pomp_mm.core.checkpoint import read_prompt_file

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'pomp', 'pretrain.py')
pytestmark = pytest.mark.slow


def test_stock_mmpretrain_train_runs_the_demo_config(tmp_path):
    import mmpretrain
    tool = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools',
                    'train.py')
    data, work = str(tmp_path / 'data'), str(tmp_path / 'w')
    gen = 'train_dataloader.dataset.generate_cfg'
    # only the data size and the length change: 16 classes (K=16), one
    # image each, one epoch of 2 iterations, then validation
    options = [f'{f}.dataset.data_root={data}' for f in
               ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    options += [f'{gen}.num_classes=16', f'{gen}.train_per_class=1',
                f'{gen}.val_per_class=1', 'train_dataloader.batch_size=8',
                'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                'default_hooks.logger.interval=1']
    proc = subprocess.run(
        [sys.executable, tool, CONFIG, '--work-dir', work, '--cfg-options',
         *options], cwd=str(tmp_path), capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1][2/2]' in log
    assert 'accuracy/top1' in log
    ctx = read_prompt_file(osp.join(work, 'prompt_epoch_1.pth'))
    assert ctx['state_dict']['ctx'].shape == (4, 64)
