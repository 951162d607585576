"""Make torchvision 0.28 importable next to a CPU-only torch 2.13.

The only torchvision wheel on PyPI for torch 2.13 is linked against CUDA, so its
``_C.so`` cannot load with the CPU torch and ``import torchvision`` fails with
``RuntimeError: operator torchvision::nms does not exist`` (pytorch/vision#9085).
mmdet, mmseg, mmpretrain, open_clip, timm and the mmengine Runner all import it.

:func:`patch_torchvision` defines the two operator schemas torchvision's meta
registrations need, with a plain-torch NMS as the CPU kernel. It does nothing when
torchvision's own ops load (e.g. with a CUDA torch). ``tools/setup_env.sh`` writes
a ``.pth`` file that calls :func:`install_import_hook`, so the repair runs before
the first ``import torchvision`` in every interpreter of the venv, at no start-up
cost (torch is only imported when torchvision is).

This module is top level on purpose: importing it must not import ``pomp_mm``.
"""
import glob
import importlib.util
import os
import sys

_LIB = None


def _nms(dets, scores, iou_threshold):
    """Greedy NMS with torchvision's semantics, in plain torch."""
    import torch
    if dets.numel() == 0:
        return torch.empty((0, ), dtype=torch.long, device=dets.device)
    x1, y1, x2, y2 = dets.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    iw = (torch.minimum(x2[:, None], x2) -
          torch.maximum(x1[:, None], x1)).clamp(min=0)
    ih = (torch.minimum(y2[:, None], y2) -
          torch.maximum(y1[:, None], y1)).clamp(min=0)
    inter = iw * ih
    iou = inter / (areas[:, None] + areas - inter)
    removed = torch.zeros(len(dets), dtype=torch.bool, device=dets.device)
    keep = []
    for i in scores.argsort(descending=True).tolist():
        if not removed[i]:
            keep.append(i)
            removed |= iou[i] > iou_threshold
    return torch.tensor(keep, dtype=torch.long, device=dets.device)


def patch_torchvision() -> bool:
    """Define torchvision's nms/qnms schemas if its compiled ops cannot load.

    Returns:
        bool: True if the CPU repair was installed by this call.
    """
    global _LIB
    if _LIB is not None or 'torchvision' in sys.modules:
        return False
    # find_spec below must not re-enter this function through the hook
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not isinstance(f, _TorchvisionHook)]
    spec = importlib.util.find_spec('torchvision')
    if spec is None or spec.origin is None:
        return False
    import torch
    for so in glob.glob(os.path.join(os.path.dirname(spec.origin), '_C*.so')):
        try:
            torch.ops.load_library(so)
            return False  # real ops are available
        except (OSError, RuntimeError):
            pass
    _LIB = torch.library.Library('torchvision', 'DEF')
    for op in ('nms', 'qnms'):  # the two ops _meta_registrations needs
        _LIB.define(f'{op}(Tensor dets, Tensor scores, '
                    'float iou_threshold) -> Tensor')
    _LIB.impl('nms', _nms, 'CPU')
    return True


class _TorchvisionHook:
    """A meta-path finder that runs :func:`patch_torchvision` on first use."""

    def find_spec(self, name, path=None, target=None):
        if name == 'torchvision':
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            patch_torchvision()
        return None  # let the normal finders import torchvision


def install_import_hook() -> None:
    """Arrange for :func:`patch_torchvision` to run before torchvision loads."""
    if 'torchvision' in sys.modules:
        return
    if not any(isinstance(f, _TorchvisionHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionHook())
