"""No code runs from a checkpoint: every loader reachable from tools/, the
APIs and MMEngine's own ``load_checkpoint`` (after ``import pomp_mm``) is
weights-only with an allow-list, and refuses anything else in one line
naming the file and the first offending global. Official POMP trainer
files (Dassl) still yield their ``ctx``."""
import ast
import glob
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

import pomp_mm.core  # noqa: F401  (patches MMEngine's loader)
from pomp_mm.core.checkpoint import (UnsafeCheckpointError, load_prompt_ctx,
                                     pickle_globals, safe_torch_load)
from pomp_mm.engine import det_demo
from pomp_mm.engine import test as engine_test
from pomp_mm.engine import train as engine_train

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'pomp', 'pretrain.py')


class _Payload:
    """Creates the folder ``marker`` if the file it is in gets unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _refusal(path):
    """The one line every loader prints for the evil files below."""
    return (f"refusing to load {path!r}: it pickles Python objects beyond "
            f"tensors (first: {os.mkdir.__module__}.mkdir), and pomp_mm "
            "loads checkpoints weights-only so that no code from a file "
            "runs; expected tensors, containers and MMEngine checkpoint "
            "data (re-save weights you trust with torch.save(state_dict))")


def _mmengine_like(ctx, *extra):
    from mmengine.logging.history_buffer import HistoryBuffer
    obj = {'meta': {'epoch': 1, 'iter': 2, 'seed': 42},
           'message_hub': {'log_scalars': {
               'train/loss': HistoryBuffer([0.5, 0.25], [1, 1])},
               'runtime_info': {'epoch': 1, 'iter': 2}},
           'state_dict': {'prompt_learner.ctx': ctx},
           'optimizer': {'state': {0: {'momentum_buffer': ctx * 0}}}}
    for i, item in enumerate(extra):
        obj[f'extra{i}'] = item
    return obj


@pytest.fixture(params=['prompt', 'mmengine', 'legacy'])
def evil(request, tmp_path):
    """An evil file of each shape, and the marker its payload would make."""
    marker = str(tmp_path / 'pwned')
    ctx = torch.randn(4, 32)
    path = str(tmp_path / f'evil_{request.param}.pth')
    if request.param == 'mmengine':
        torch.save(_mmengine_like(ctx, _Payload(marker)), path)
    else:
        obj = {'state_dict': {'ctx': ctx}, 'epoch': 1, 'x': _Payload(marker)}
        torch.save(obj, path, _use_new_zipfile_serialization=(
            request.param == 'prompt'))
    yield path
    assert not osp.exists(marker), 'the payload ran'


def test_static_scan_lists_the_payload(evil):
    assert f'{os.mkdir.__module__}.mkdir' in pickle_globals(evil)


def test_package_loaders_refuse(evil):
    with pytest.raises(UnsafeCheckpointError) as e:
        load_prompt_ctx(evil)
    assert str(e.value) == _refusal(evil)
    with pytest.raises(UnsafeCheckpointError) as e:
        safe_torch_load(evil)
    assert str(e.value) == _refusal(evil)
    with open(evil, 'rb') as f:  # a file object: torch's own refusal
        with pytest.raises(UnsafeCheckpointError, match='refusing to load'):
            safe_torch_load(f)


def test_mmengine_load_checkpoint_refuses_after_import(evil):
    """What mmdet's init_detector, mmpretrain's / MMSeg's tools and
    inferencers and Runner.load_checkpoint call."""
    from mmengine.runner import load_checkpoint
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(UnsafeCheckpointError) as e:
        load_checkpoint(nn.Linear(2, 2), evil)
    assert str(e.value) == _refusal(evil)
    with pytest.raises(UnsafeCheckpointError):
        _load_checkpoint(evil, map_location='cpu')


def test_mmengine_loader_still_reads_mmengine_checkpoints(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    ctx = torch.randn(4, 32)
    path = str(tmp_path / 'epoch_1.pth')
    torch.save(_mmengine_like(ctx), path)
    ckpt = _load_checkpoint(path, map_location='cpu')
    assert torch.equal(ckpt['state_dict']['prompt_learner.ctx'], ctx)
    assert ckpt['message_hub']['log_scalars']['train/loss'].mean() == 0.375
    # the allow-list is scoped to the call: plain torch.load still refuses
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path)


def test_tools_refuse_before_any_work(evil, tmp_path):
    line = _refusal(evil)
    cases = [
        ('test', [CONFIG, evil]),
        ('test', [CONFIG, '--cfg-options', f'load_from={evil}']),
        ('train', [CONFIG, '--work-dir', str(tmp_path / 'w1'),
                   '--resume', evil]),
        ('train', [CONFIG, '--work-dir', str(tmp_path / 'w2'),
                   '--cfg-options', f'load_from={evil}']),
    ]
    for tool, argv in cases:
        with pytest.raises(SystemExit) as e:
            {'test': engine_test, 'train': engine_train}[tool].main(argv)
        assert str(e.value).endswith(line), (tool, argv, str(e.value))


def test_bare_resume_refuses_an_evil_latest_checkpoint(evil, tmp_path):
    import shutil
    work = tmp_path / 'work'
    work.mkdir()
    shutil.copy(evil, work / 'epoch_1.pth')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    with pytest.raises(SystemExit) as e:
        engine_train.main([CONFIG, '--work-dir', str(work),
                                 '--resume'])
    # skipped as not intact, with the reason; nothing else to resume from
    assert str(e.value) == (
        f'train.py: error: --resume: work dir {str(work)!r} holds '
        'checkpoints but none is intact ('
        f'{_refusal(str(work / "epoch_1.pth")).split(";")[0]}); remove the broken files to start over, or choose another work '
        'dir')


def test_det_demo_refuses_evil_weights(evil, tmp_path, capsys):
    import numpy as np
    image = str(tmp_path / 'x.png')
    import cv2
    cv2.imwrite(image, np.zeros((8, 8, 3), np.uint8))
    config = osp.join(ROOT, 'configs', 'miniworld', 'det_ov.py')
    with pytest.raises(SystemExit):
        det_demo.main([image, config, '--weights', evil,
                                    '--texts', 'a . b',
                                    '--out', str(tmp_path / 'o.png')])
    assert capsys.readouterr().err.strip().endswith(_refusal(evil))


@pytest.mark.slow
def test_stock_mmpretrain_test_tool_refuses(tmp_path):
    """mmpretrain's own tools/test.py, which imports pomp_mm through the
    config's custom_imports: non-zero exit, the one line, no payload."""
    import mmpretrain
    marker = str(tmp_path / 'pwned')
    evil = str(tmp_path / 'evil.pth')
    torch.save(_mmengine_like(torch.randn(4, 64), _Payload(marker)), evil)
    tool = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools',
                    'test.py')
    data = str(tmp_path / 'data')
    proc = subprocess.run(
        [sys.executable, tool, CONFIG, evil, '--work-dir',
         str(tmp_path / 'w'), '--cfg-options',
         f'test_dataloader.dataset.data_root={data}',
         f'train_dataloader.dataset.data_root={data}',
         f'val_dataloader.dataset.data_root={data}'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].endswith(_refusal(evil)), \
        proc.stderr[-2000:]
    assert not osp.exists(marker)


class _DasslWarmup(torch.optim.lr_scheduler.LRScheduler):
    """Dassl's ConstantWarmupScheduler: its state dict holds ``successor``,
    a live scheduler (with its optimizer)."""

    def __init__(self, optimizer, successor, warmup_epoch, cons_lr):
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        self.cons_lr = cons_lr
        super().__init__(optimizer)

    def get_lr(self):
        if self.last_epoch >= self.warmup_epoch:
            return self.successor.get_last_lr()
        return [self.cons_lr for _ in self.base_lrs]


def _write_dassl_file(path, ctx, extra=None):
    """``model.pth.tar-N`` as Dassl's ``save_checkpoint`` writes it for
    POMP's prompt learner (ctx + token buffers)."""
    learner = nn.Module()
    learner.ctx = nn.Parameter(ctx.clone())
    learner.register_buffer('token_prefix', torch.zeros(10, 1, 32))
    learner.register_buffer('token_suffix', torch.zeros(10, 72, 32))
    optim = torch.optim.SGD([learner.ctx], lr=0.002, momentum=0.9)
    successor = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=5)
    sched = _DasslWarmup(optim, successor, 1, 1e-5)
    learner.ctx.sum().backward()
    optim.step()
    sched.step()
    with torch.no_grad():
        learner.ctx.copy_(ctx)
    state = {'state_dict': learner.state_dict(), 'epoch': 5,
             'optimizer': optim.state_dict(),
             'scheduler': sched.state_dict(), 'val_result': 0.25}
    if extra is not None:
        state['x'] = extra
    torch.save(state, path)


def test_official_trainer_file_yields_ctx_without_running_it(tmp_path,
                                                             monkeypatch):
    ctx = torch.randn(4, 32)
    path = str(tmp_path / 'model.pth.tar-5')
    _write_dassl_file(path, ctx)
    names = set(pickle_globals(path))  # the live objects are really there
    assert {'torch.optim.lr_scheduler.CosineAnnealingLR',
            'torch.optim.sgd.SGD', 'collections.defaultdict'} <= names

    def boom(*args, **kwargs):
        raise AssertionError('code of a pickled object ran')
    for cls in (torch.optim.SGD, torch.optim.lr_scheduler.CosineAnnealingLR):
        monkeypatch.setattr(cls, '__setstate__', boom, raising=False)
        monkeypatch.setattr(cls, '__init__', boom)
    monkeypatch.setattr(torch.optim.Optimizer, '__setstate__', boom)
    assert torch.equal(load_prompt_ctx(path), ctx)
    from pomp_mm.utils.cli import prompt_only_file
    assert prompt_only_file(path) is True  # tools/test.py takes it as prompt
    # ...but only through the prompt route: MMEngine's loader refuses it
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(UnsafeCheckpointError,
                       match='first: torch.optim.sgd.SGD|first: torch.optim'
                       '.lr_scheduler.CosineAnnealingLR'):
        _load_checkpoint(path)


def test_trainer_file_with_a_payload_is_refused(tmp_path):
    marker = str(tmp_path / 'pwned')
    path = str(tmp_path / 'model-best.pth.tar')
    _write_dassl_file(path, torch.randn(4, 32), extra=_Payload(marker))
    with pytest.raises(UnsafeCheckpointError) as e:
        load_prompt_ctx(path)
    assert 'first: torch.optim' in str(e.value) or \
        f'first: {os.mkdir.__module__}.mkdir' in str(e.value)
    assert not osp.exists(marker)


def test_non_finite_or_empty_ctx_is_refused(tmp_path):
    path = str(tmp_path / 'p.pth')
    ctx = torch.randn(4, 32)
    ctx[1, 3] = float('nan')
    ctx[2, 0] = float('inf')
    torch.save({'state_dict': {'ctx': ctx}, 'epoch': 1}, path)
    with pytest.raises(ValueError) as e:
        load_prompt_ctx(path)
    assert str(e.value) == (
        f'prompt file {path!r}: ctx has 2 non-finite values (NaN/Inf) of '
        '128; expected finite numbers (the training that wrote it diverged)')
    torch.save({'state_dict': {'ctx': torch.zeros(0, 32)}, 'epoch': 1}, path)
    with pytest.raises(ValueError) as e:
        load_prompt_ctx(path)
    assert str(e.value) == (f'prompt file {path!r}: ctx is empty (shape '
                            '(0, 32)); expected n_ctx >= 1 context vectors')


def _source_files():
    for pattern in ('pomp_mm/**/*.py', 'tools/*.py', '*.py'):
        yield from glob.glob(osp.join(ROOT, pattern), recursive=True)


def test_no_code_sets_weights_only_false():
    """No call passes ``weights_only=False`` and nothing sets
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``, in the package or the tools."""
    offenders = []
    for path in _source_files():
        tree = ast.parse(open(path, encoding='utf-8').read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == 'weights_only' and isinstance(
                            kw.value, ast.Constant) and kw.value.value is \
                            not True:
                        offenders.append(f'{path}:{node.lineno}')
            if isinstance(node, ast.Constant) and isinstance(
                    node.value, str) and re.fullmatch(
                        'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', node.value):
                offenders.append(f'{path}:{node.lineno}')
    assert not offenders, offenders


def test_every_torch_load_is_weights_only_by_its_own_words():
    """Every ``torch.load`` call in the package and the tools says
    ``weights_only=True`` itself (or is ``safe_torch_load``): none leans on
    torch's default, which an environment variable can turn off."""
    offenders = []
    for path in _source_files():
        tree = ast.parse(open(path, encoding='utf-8').read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(
                    node.func, ast.Attribute) and node.func.attr == 'load' \
                    and isinstance(node.func.value, ast.Name) and \
                    node.func.value.id == 'torch':
                explicit = [kw for kw in node.keywords
                            if kw.arg == 'weights_only' and isinstance(
                                kw.value, ast.Constant) and
                            kw.value.value is True]
                if not explicit:
                    offenders.append(f'{path}:{node.lineno}')
    assert not offenders, offenders


def test_torchscript_clip_is_read_as_data(tmp_path, monkeypatch):
    """OpenAI's TorchScript CLIP archive: torch.jit.load (which compiles and
    runs the archive's code) is never called; a pickled payload in its
    data.pkl is refused like any other."""
    import pickle
    import zipfile

    from pomp_mm.core import read_clip_state_dict
    from pomp_mm.core.checkpoint import read_torchscript_state_dict

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(2, 3)
            self.register_buffer('buf', torch.arange(4.))

        def forward(self, x):
            return self.proj(x)

    path = str(tmp_path / 'ViT.pt')
    torch.jit.save(torch.jit.trace(Tiny(), torch.randn(1, 2)), path)
    want = torch.jit.load(path).state_dict()

    def boom(*args, **kwargs):
        raise AssertionError('torch.jit.load ran')
    monkeypatch.setattr(torch.jit, 'load', boom)
    got = read_torchscript_state_dict(path)
    assert set(got) == set(want) == {'proj.weight', 'proj.bias', 'buf'}
    assert all(torch.equal(got[k], want[k]) for k in want)

    marker = str(tmp_path / 'pwned')
    evil = str(tmp_path / 'evil_jit.pt')
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(evil, 'w') as dst:
        for item in src.namelist():
            data = src.read(item)
            if item.endswith('/data.pkl'):
                data = pickle.dumps({'x': _Payload(marker)}, protocol=2)
            dst.writestr(item, data)
    with pytest.raises(ValueError) as e:
        read_clip_state_dict(evil)
    assert _refusal(evil) in str(e.value)
    assert not osp.exists(marker)
