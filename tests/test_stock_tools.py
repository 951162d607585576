"""A prompt file given to mmpretrain's own tools/test.py (MMEngine's
load_from) gives the POMP number, the same as pomp_mm's tools/test.py,
not the config's own prompt."""
import os.path as osp
import re
import subprocess
import sys

import mmengine
import pytest
import torch

from pomp_mm.core import FrozenCLIP, save_prompt
from pomp_mm.engine import test as engine_test

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'pomp', 'pretrain.py')
pytestmark = pytest.mark.slow


def _options(tmp, clip):
    data = str(tmp / 'data')
    gen = 'train_dataloader.dataset.generate_cfg'
    return [f'model.prompt_learner.clip.checkpoint={clip}',
            f'train_dataloader.dataset.data_root={data}',
            f'val_dataloader.dataset.data_root={data}',
            f'test_dataloader.dataset.data_root={data}',
            f'{gen}.num_classes=12', f'{gen}.train_per_class=2',
            f'{gen}.val_per_class=8']


def test_stock_mmpretrain_test_loads_a_prompt_file(tmp_path):
    import mmpretrain
    torch.manual_seed(0)
    clip = str(tmp_path / 'clip.pt')
    torch.save(FrozenCLIP('pomp-tiny-vit').model.state_dict(), clip)
    prompt = str(tmp_path / 'prompt.pth')
    save_prompt(prompt, 0.5 * torch.randn(
        4, 64, generator=torch.Generator().manual_seed(1)))
    options = _options(tmp_path, clip)
    ours = engine_test.main([CONFIG, prompt, '--work-dir',
                                   str(tmp_path / 'w1'), '--cfg-options',
                                   *options])
    tool = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools',
                    'test.py')
    nothing = str(tmp_path / 'empty.pth')  # stock test.py needs a file
    torch.save({'meta': {}, 'state_dict': {}}, nothing)
    scores = {}
    for name, ckpt in (('prompt', [prompt]), ('config', [nothing])):
        out = str(tmp_path / f'{name}.pkl')
        proc = subprocess.run(
            [sys.executable, tool, CONFIG, *ckpt, '--out', out,
             '--work-dir', str(tmp_path / name), '--cfg-options', *options],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        log = proc.stdout + proc.stderr
        scores[name] = torch.stack([torch.as_tensor(r['pred_score'])
                                    for r in mmengine.load(out)])
        if name == 'prompt':
            stock = float(re.findall(r'accuracy/top1: ([\d.]+)', log)[-1])
            assert "loaded the checkpoint's prompt ctx (4, 64) into " \
                'prompt_learner' in log
            # the run names the CLIP file it loaded
            assert f'FrozenCLIP pomp-tiny-vit: weights loaded from {clip} ' \
                '(open_clip)' in log
    assert stock == pytest.approx(ours['accuracy/top1'], abs=1e-4)
    # the test can fail: the config's own prompt predicts otherwise
    assert (scores['prompt'] - scores['config']).abs().max() > 1e-3
