"""Prompt files: write the official format, read every format in the wild.

The official POMP prompt file is ``{'state_dict': {'ctx': Tensor}, 'epoch': n}``
(``ctx`` is (n_ctx, width), or (n_cls, n_ctx, width) for class-specific
context). :func:`load_prompt_ctx` reads that, the released files (extra keys,
fp16, ``module.`` prefixes), ZSSeg/detectron2 files (``model`` key,
``clip_adapter.prompt_learner.ctx``) and full MMEngine checkpoints
(``prompt_learner.ctx`` among other keys).

Prompt files are read with ``torch.load(weights_only=True)``: they hold
tensors only. Full MMEngine checkpoints pickle Python objects (the message
hub's ``HistoryBuffer``), so they are read through MMEngine's loader, which
:mod:`pomp_mm.core.compat` lets unpickle them; only load those you trust.
"""
import os
import os.path as osp
import pickle
import tempfile
from typing import IO, Any, Callable, Dict, Optional

import torch


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file through ``write(f)`` into a temp file, then rename.

    A crash or a full disk never leaves a half-written ``path`` behind, and
    an existing ``path`` stays intact until the new file is complete.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(path) + '.',
                               suffix='.tmp', dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(path: str, text: str) -> None:
    """Write UTF-8 text through :func:`atomic_write`."""
    atomic_write(path, lambda f: f.write(text.encode('utf-8')))


def save_prompt(path: str,
                ctx: torch.Tensor,
                epoch: int = 0,
                meta: Optional[Dict[str, Any]] = None) -> None:
    """Write a prompt file in the official POMP format.

    Args:
        path (str): Output file.
        ctx (Tensor): The context vectors.
        epoch (int): Epochs trained (the official files store it; the
            official ``--eval-only`` reads it). Defaults to 0.
        meta (dict, optional): Extra plain-data info (strings, numbers),
            stored under ``'meta'``. Defaults to None.
    """
    obj = {'state_dict': {'ctx': ctx.detach().cpu().clone()},
           'epoch': int(epoch)}
    if meta:
        obj['meta'] = dict(meta)
    atomic_torch_save(obj, path)


def _load_any(path: str) -> Any:
    """Load with weights_only=True; MMEngine checkpoints via MMEngine."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        if 'mmengine' not in str(e):
            raise
    from mmengine.runner.checkpoint import _load_checkpoint

    from .compat import patch_mmengine_checkpoint_loading
    patch_mmengine_checkpoint_loading()
    return _load_checkpoint(path, map_location='cpu')


def _find_ctx(state: Dict[str, Any], path: str) -> torch.Tensor:
    keys = [k for k, v in state.items() if isinstance(v, torch.Tensor) and
            (k == 'ctx' or k.endswith('.ctx'))]
    if len(keys) > 1:
        preferred = [k for k in keys if k.endswith('prompt_learner.ctx')]
        keys = preferred if len(preferred) == 1 else keys
    if len(keys) != 1:
        found = ', '.join(keys) if keys else ', '.join(list(state)[:8])
        what = 'several' if keys else 'no'
        raise ValueError(
            f'prompt file {path!r} has {what} prompt context tensors (keys: '
            f'{found}); expected {{"state_dict": {{"ctx": Tensor[n_ctx, '
            f'width]}}}}')
    return state[keys[0]]


def load_prompt_ctx(path: str,
                    width: Optional[int] = None,
                    dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """Read the prompt context ``ctx`` from any supported file.

    Args:
        path (str): A prompt file (official or pomp_mm format), a released
            POMP file, a ZSSeg/detectron2 file or a full MMEngine checkpoint.
        width (int, optional): The text tower width the prompt is for; a
            different ctx width is an error. Defaults to None (no check).
        dtype (torch.dtype, optional): Cast ``ctx`` to this dtype (the text
            tower's). Defaults to None (keep the file's).

    Returns:
        Tensor: ``ctx``, (n_ctx, width) or (n_cls, n_ctx, width).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'prompt file {path!r} does not exist')
    try:
        obj = _load_any(path)
    except Exception as e:  # noqa: BLE001 - corrupt/truncated files
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ''
        raise ValueError(f'cannot read prompt file {path!r} (corrupt or '
                         'truncated, or not a tensors-only file?): '
                         f'{type(e).__name__}: {msg}') from e
    if not isinstance(obj, dict):
        raise ValueError(f'prompt file {path!r} holds a {type(obj).__name__}'
                         ', expected a dict with a "state_dict"')
    state = obj
    for key in ('state_dict', 'model'):
        if isinstance(obj.get(key), dict):
            state = obj[key]
            break
    ctx = _find_ctx(state, path)
    if ctx.dim() not in (2, 3):
        raise ValueError(f'prompt file {path!r}: ctx has shape '
                         f'{tuple(ctx.shape)}, expected (n_ctx, width) or '
                         '(n_cls, n_ctx, width)')
    if width is not None and ctx.shape[-1] != width:
        raise ValueError(
            f'prompt file {path!r}: ctx width {ctx.shape[-1]} (shape '
            f'{tuple(ctx.shape)}) does not match the CLIP text width {width}'
            '; use a prompt trained for this CLIP model')
    if dtype is not None:
        ctx = ctx.to(dtype)
    return ctx
