"""Targeted fixes for running MMEngine 0.10.7 on torch >= 2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default. MMEngine
0.10.7's checkpoint loader calls ``torch.load`` without ``weights_only`` and
its checkpoints pickle ``HistoryBuffer`` objects, so ``load_from`` and
``--resume`` fail. MMEngine 0.11 passes ``weights_only=False`` in that one
place; :func:`patch_mmengine_checkpoint_loading` does the same, for MMEngine's
checkpoint module only. Every other ``torch.load`` (prompt files, feature
files, CLIP weights read by pomp_mm) keeps weights-only loading.
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is never set.
"""
import types

import torch

_PATCHED = False


def patch_mmengine_checkpoint_loading() -> None:
    """Let MMEngine's checkpoint loader (only) unpickle its checkpoints."""
    global _PATCHED
    if _PATCHED:
        return
    import mmengine.runner.checkpoint as ckpt

    def _load(*args, **kwargs):
        kwargs.setdefault('weights_only', False)
        return torch.load(*args, **kwargs)

    proxy = types.ModuleType('torch')
    proxy.__dict__.update(torch.__dict__)
    proxy.load = _load
    ckpt.torch = proxy
    _PATCHED = True
