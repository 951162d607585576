"""The repairs of the pinned stack (pomp_mm.compat): applied on import,
scoped to the module they repair, idempotent.

The refusals of unsafe files through MMEngine's loader are
tests/test_security.py's; here only that the loader *is* pomp_mm's after a
bare ``import pomp_mm``, and stays so.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import pomp_mm  # noqa: F401  (applies the torchvision and MMEngine repairs)
from pomp_mm.compat.lvis import patch_lvis_eval
from pomp_mm.compat.mmengine import (_WeightsOnlyTorch,
                                     patch_mmengine_checkpoint_loading)
from pomp_mm.compat.torchvision import patch_torchvision


def _fresh(code: str) -> subprocess.CompletedProcess:
    """``code`` in a new interpreter of this venv (its .pth hook runs)."""
    return subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=300)


def test_bare_import_of_mmdet_models_works():
    """No pomp_mm import: the venv's .pth hook alone repairs torchvision."""
    run = _fresh('import mmdet.models, torchvision, sys; '
                 "print('pomp_mm' in sys.modules)")
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == 'False'


def test_import_pomp_mm_makes_mmengine_loader_weights_only():
    run = _fresh(
        'import pomp_mm, sys\n'
        'import mmengine.runner.checkpoint as c\n'
        'from pomp_mm.compat.mmengine import _WeightsOnlyTorch\n'
        'assert isinstance(c.torch, _WeightsOnlyTorch), c.torch\n'
        'assert c.load_state_dict.pomp_prompt_aware\n'
        "print(sorted(m for m in ('pomp_mm.core', 'pomp_mm.det', 'lvis')"
        ' if m in sys.modules))')
    assert run.returncode == 0, run.stderr[-2000:]
    # the model code and the lvis repair are not pulled in by the patch
    assert run.stdout.strip() == '[]'


def test_mmengine_patch_is_idempotent():
    import mmengine.runner.checkpoint as ckpt
    proxy, loader = ckpt.torch, ckpt.load_state_dict
    assert isinstance(proxy, _WeightsOnlyTorch)
    assert patch_mmengine_checkpoint_loading() is False
    assert patch_mmengine_checkpoint_loading() is False
    assert ckpt.torch is proxy and ckpt.load_state_dict is loader
    # not wrapped twice: the wrapper's inner function is MMEngine's own
    assert not getattr(loader.__wrapped__, 'pomp_prompt_aware', False)
    # the old import paths give the same objects
    from pomp_mm.core import patch_mmengine_checkpoint_loading as core_patch
    from pomp_mm.core.compat import _WeightsOnlyTorch as old_proxy_type
    assert core_patch is patch_mmengine_checkpoint_loading
    assert old_proxy_type is _WeightsOnlyTorch


def test_mmengine_patch_applies_to_an_unpatched_module(monkeypatch):
    import mmengine.runner.checkpoint as ckpt
    original = ckpt.load_state_dict.__wrapped__
    monkeypatch.setattr(ckpt, 'torch', torch)
    monkeypatch.setattr(ckpt, 'load_state_dict', original)
    assert patch_mmengine_checkpoint_loading() is True
    assert isinstance(ckpt.torch, _WeightsOnlyTorch)
    assert ckpt.load_state_dict.__wrapped__ is original
    assert patch_mmengine_checkpoint_loading() is False
    assert torch.load is not ckpt.torch.load  # torch itself is untouched


def test_proxy_looks_torch_up_at_use(monkeypatch):
    """Nothing is copied from torch when the patch is applied: a name torch
    gains or changes later is what MMEngine's module sees."""
    import mmengine.runner.checkpoint as ckpt
    marker = object()
    monkeypatch.setattr(torch, 'pomp_mm_test_name', marker, raising=False)
    assert ckpt.torch.pomp_mm_test_name is marker
    monkeypatch.setattr(torch, 'device', marker)
    assert ckpt.torch.device is marker
    assert 'device' not in vars(ckpt.torch)


def test_proxy_load_is_weights_only(tmp_path):
    """``weights_only=False`` from a caller is not honoured."""
    path = str(tmp_path / 'obj.pth')
    torch.save({'w': torch.ones(2), 'obj': os.getcwd}, path)
    import mmengine.runner.checkpoint as ckpt
    from pomp_mm.core.checkpoint import UnsafeCheckpointError
    with pytest.raises(UnsafeCheckpointError, match='refusing to load'):
        ckpt.torch.load(path, map_location='cpu', weights_only=False)
    good = str(tmp_path / 'good.pth')
    torch.save({'w': torch.arange(3)}, good)
    assert torch.equal(ckpt.torch.load(good)['w'], torch.arange(3))


def test_torchvision_patch_is_idempotent():
    import torchvision  # noqa: F401
    assert patch_torchvision() is False  # torchvision is loaded
    assert patch_torchvision() is False
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]])
    # the op (torchvision's Python nms() also checks for its compiled ops)
    keep = torch.ops.torchvision.nms(boxes, torch.tensor([0.9, 0.8, 0.7]),
                                     0.5)
    assert keep.tolist() == [0, 2]


def test_torchvision_patch_in_a_fresh_interpreter():
    """Before torchvision loads, the first call repairs (or finds real ops)
    and every further call is a no-op."""
    run = _fresh(
        'import sys\n'
        'sys.meta_path[:] = [f for f in sys.meta_path\n'
        "                    if type(f).__name__ != '_TorchvisionHook']\n"
        'from pomp_mm_tvfix import patch_torchvision\n'
        'first = patch_torchvision()\n'
        'assert patch_torchvision() is False\n'
        'import torchvision\n'
        'assert patch_torchvision() is False\n'
        'print(first)')
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() in ('True', 'False')


def test_lvis_patch_is_idempotent_and_scoped():
    pytest.importorskip('lvis')
    import lvis.eval as lvis_eval

    import pomp_mm.det  # noqa: F401  (applies it)
    assert lvis_eval.np.float is float
    assert patch_lvis_eval() is False
    assert patch_lvis_eval() is False
    assert not hasattr(np, 'float')  # numpy itself is unchanged
    assert lvis_eval.np.zeros is np.zeros
    from pomp_mm.det.lvis_compat import patch_lvis_eval as old_path
    assert old_path is patch_lvis_eval


def test_lvis_patch_applies_to_an_unpatched_module(monkeypatch):
    pytest.importorskip('lvis')
    import lvis.eval as lvis_eval
    monkeypatch.setattr(lvis_eval, 'np', np)
    assert patch_lvis_eval() is True
    assert lvis_eval.np.float is float and lvis_eval.np is not np
    assert patch_lvis_eval() is False
