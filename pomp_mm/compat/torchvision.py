"""Make torchvision 0.28 importable next to the CPU-only torch 2.13.

What breaks: the only torchvision wheel on PyPI for torch 2.13 (0.28.0) is
linked against CUDA, so its ``_C.so`` cannot load with the CPU torch and
``import torchvision`` fails with ``RuntimeError: operator torchvision::nms
does not exist`` (pytorch/vision#9085). mmdet, mmseg, mmpretrain,
open_clip, timm and the MMEngine Runner all import torchvision.

What the patch does: :func:`patch_torchvision` defines the two operator
schemas torchvision's meta registrations need (``nms``, ``qnms``), with a
plain-torch NMS as the CPU kernel. It does nothing when torchvision's own
ops load (a CUDA torch), when torchvision is already imported, or when it
ran before (idempotent: it returns False then).

Where it runs: the body lives in the repo-root module ``pomp_mm_tvfix``
(it must not import ``pomp_mm``), because ``tools/setup_env.sh`` writes a
``.pth`` file that calls :func:`install_import_hook` at every interpreter
start of the venv, so a bare ``python -c "import mmdet.models"`` works.
``import pomp_mm`` calls :func:`patch_torchvision` too, for interpreters
started without the hook (another environment); with the hook it is a
no-op. This module re-exports both and is where the repair is documented.
"""
from pomp_mm_tvfix import install_import_hook, patch_torchvision

__all__ = ['patch_torchvision', 'install_import_hook']
