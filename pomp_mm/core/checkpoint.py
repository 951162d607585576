"""Prompt files: write the official format, read every format in the wild.

The official POMP prompt file is ``{'state_dict': {'ctx': Tensor}, 'epoch': n}``
(``ctx`` is (n_ctx, width), or (n_cls, n_ctx, width) for class-specific
context). :func:`load_prompt_ctx` reads that, the released files (extra keys,
fp16, ``module.`` prefixes), ZSSeg/detectron2 files (``model`` key,
``clip_adapter.prompt_learner.ctx``) and full MMEngine checkpoints
(``prompt_learner.ctx`` among other keys).

Every file here is read with ``torch.load(weights_only=True)``: prompt files
hold tensors only; full MMEngine checkpoints also pickle their message hub
(``HistoryBuffer`` objects with numpy arrays), whose few constructors are
allowed by name (:func:`mmengine_safe_globals`). A file that needs anything
else is refused, so reading a prompt never runs code from the file.
"""
import json
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
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(path) + '.',
                                   suffix='.tmp', dir=folder)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and osp.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError):  # full disk, read-only folder, ...
            raise OSError(e.errno, f'cannot write {path}: '
                          f'{e.strerror or e}; expected a folder with free '
                          'space that this user can write (an existing '
                          'file is left as it was)') from e
        raise


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(path: str, text: str) -> None:
    """Write UTF-8 text through :func:`atomic_write`."""
    atomic_write(path, lambda f: f.write(text.encode('utf-8')))


def read_json(path: str) -> Any:
    """The JSON in ``path``, or None if it is missing or unreadable.

    For records a tool wrote itself (run stamps, caches): anything that
    cannot be read just means "not there yet".
    """
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


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


def _public_getattr(obj: Any, name: str, *default: Any) -> Any:
    """``getattr`` for unpickling MMEngine checkpoints, which reference
    numpy methods by name (``getattr(ndarray, 'min')``): private and dunder
    names (the way out of a restricted unpickler) are refused."""
    if not isinstance(name, str) or name.startswith('_'):
        raise pickle.UnpicklingError(f'refusing to read attribute {name!r}')
    return getattr(obj, name, *default)


def mmengine_safe_globals() -> list:
    """The only globals a weights-only load of an MMEngine checkpoint needs.

    An MMEngine checkpoint pickles its message hub: ``HistoryBuffer``
    objects holding numpy arrays and scalars. These constructors (and a
    ``getattr`` limited to public names) are allowed; anything else in a
    file (``os.system``, ``eval``, ...) still stops the load.

    Returns:
        list: Entries for :func:`torch.serialization.safe_globals`.
    """
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np._core.multiarray if hasattr(np, '_core') \
        else np.core.multiarray
    allowed = [HistoryBuffer, np.ndarray, np.dtype, bytes,
               (_public_getattr, 'builtins.getattr')]
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        allowed += [(multiarray._reconstruct, f'{module}._reconstruct'),
                    (multiarray.scalar, f'{module}.scalar')]
    allowed += list({type(np.dtype(c)) for c in '?bBhHiIlLqQefdgFDGSU'})
    return allowed


def _unsafe_globals(path: str) -> str:
    """The globals beyond :func:`mmengine_safe_globals` that a pickle
    references ('' if none or unreadable); a static scan of its opcodes,
    nothing is executed."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - not a readable pickle at all
        return ''
    allowed = {'builtins.getattr', 'builtins.bytes', 'numpy.ndarray',
               'numpy.dtype', 'mmengine.logging.history_buffer.HistoryBuffer'}
    names = [n for n in names if n not in allowed and
             not n.startswith(('numpy._core.multiarray.',
                               'numpy.core.multiarray.', 'numpy.dtypes.'))]
    return ', '.join(names[:3])


def _load_any(path: str) -> Any:
    """``torch.load(weights_only=True)``; if the file pickles more than
    tensors (a full MMEngine checkpoint, numpy arrays), once more with
    :func:`mmengine_safe_globals` allowed. Nothing is ever unpickled with
    ``weights_only=False``."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError:
        pass  # an MMEngine checkpoint (or numpy arrays): the allowed names
    with torch.serialization.safe_globals(mmengine_safe_globals()):
        return torch.load(path, map_location='cpu', weights_only=True)


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
        raise FileNotFoundError(f'prompt file {path!r} does not exist; '
                                'expected a prompt file (.pth)')
    try:
        obj = _load_any(path)
    except Exception as e:  # noqa: BLE001 - corrupt/truncated files
        refused = _unsafe_globals(path) if \
            isinstance(e, pickle.UnpicklingError) else ''
        if refused:
            raise ValueError(
                f'prompt file {path!r} holds pickled Python objects (it '
                f'references {refused}), which weights-only loading refuses;'
                ' expected tensors only, e.g. {"state_dict": {"ctx": '
                'Tensor}}') from e
        with open(path, 'rb') as f:
            torch_file = f.read(2) in (b'PK', b'\x80\x02')  # zip, legacy
        if not torch_file or isinstance(e, pickle.UnpicklingError):
            reason = 'no PyTorch data inside'
        else:  # torch's first sentence, e.g. "...: failed finding central
            # directory" for a truncated file
            reason = str(e).strip().splitlines()[0].split('. ')[0] \
                if str(e).strip() else type(e).__name__
        raise ValueError(f'cannot read prompt file {path!r}, corrupt or '
                         f'truncated ({reason}); expected a file written by '
                         'torch.save') from e
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
