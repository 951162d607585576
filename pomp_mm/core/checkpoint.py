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
import errno
import io
import json
import os
import os.path as osp
import pickle
import pickletools
import re
import tempfile
import zipfile
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch._utils import IMPORT_MAPPING, NAME_MAPPING  # as torch.load maps


class WriteError(OSError):
    """A file could not be written (full disk, read-only folder, ...); its
    text is one line naming the file, and the old file is intact."""


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file through ``write(f)`` into a temp file, then rename.

    A crash or a full disk never leaves a half-written ``path`` behind, and
    an existing ``path`` stays intact until the new file is complete. A
    ``path`` that is a symlink is written through: the file it points to is
    replaced (the temp file sits beside that file, so the rename stays on
    its file system) and the link stays a link.

    Args:
        path (str): The file to write.
        write (callable): Writes the content to the binary file object it
            is given.

    Raises:
        WriteError: An ``OSError`` of one line, ``cannot write <path>:
            <cause>; expected ...``,
            for any failure to write: a full disk (also when ``torch.save``
            reports it as a ``RuntimeError`` of its zip writer, whose own
            text, ``unexpected pos 704 vs 598``, does not say so), a
            read-only folder, ``path`` being a folder. Other errors of
            ``write`` are raised as they are.
    """
    target = osp.realpath(path)  # a symlink: write the file it points to
    folder = osp.dirname(target)
    tmp = None
    try:
        if osp.islink(target):  # realpath stops at a loop of links
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
        if osp.isdir(target):  # before write(): no work is wasted
            raise OSError(errno.EISDIR, os.strerror(errno.EISDIR))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(target) + '.',
                                   suffix='.tmp', dir=folder)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        if tmp is not None and osp.exists(tmp):
            os.remove(tmp)
        cause = e  # torch.save: RuntimeError raised while an OSError was
        while isinstance(cause, RuntimeError):  # being handled
            cause = cause.__cause__ or cause.__context__
        torch_writer = isinstance(e, RuntimeError) and (
            'PytorchStreamWriter' in str(e) or 'inline_container' in str(e))
        if not isinstance(cause, OSError) and not torch_writer:
            raise
        if isinstance(cause, OSError) and cause.errno is not None:
            code, reason = cause.errno, cause.strerror or os.strerror(
                cause.errno)
        else:  # an OSError without errno, or torch's writer alone
            code = None
            reason = str(cause if isinstance(cause, OSError) else e)
            reason = (reason.strip().splitlines() or [type(e).__name__])[0]
        if code == errno.EEXIST and not osp.isdir(folder):  # makedirs met
            code, reason = errno.ENOTDIR, os.strerror(errno.ENOTDIR)  # a file
        expected = {
            errno.EISDIR: 'expected the path of a file, not a folder',
            errno.ENOTDIR: 'expected a path whose parents are folders',
            errno.ELOOP: 'expected a file or a symlink to one',
        }.get(code, 'expected a folder with free space that this user can '
                    'write')
        message = (f'cannot write {path}: {reason}; {expected} (an existing '
                   'file is left as it was)')
        # OSError(None, msg) would print as "[Errno None] msg"
        raise (WriteError(code, message) if code is not None
               else WriteError(message)) from e


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


class CheckpointMismatchError(ValueError):
    """A checkpoint whose weights do not fit the model (another shape, a
    learned part missing, non-finite values): loading it would evaluate
    the wrong model, so it is an error, not MMEngine's logged warning."""


class UnsafeCheckpointError(pickle.UnpicklingError, ValueError):
    """A file that weights-only loading refuses: it pickles Python objects
    beyond tensors, containers and the allowed MMEngine names."""


def pickle_globals(path: str) -> List[str]:
    """Every global (``module.name``) a torch file's pickles reference, in
    file order; a static scan of the opcodes, nothing is executed.

    Reads ``*/data.pkl`` of a zip file (``torch.save`` since torch 1.6) or
    the leading pickles of a legacy (pre-zip) file.
    """
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            blobs = [zf.read(n) for n in zf.namelist()
                     if n.endswith('data.pkl')]
        streams = [io.BytesIO(b) for b in blobs]
        per_stream = 1
    else:
        streams = [open(path, 'rb')]  # noqa: SIM115 - closed below
        per_stream = 5  # magic, protocol, sys info, object, storage keys
    found: List[str] = []
    for stream in streams:
        try:
            for _ in range(per_stream):
                found += _globals_of_one_pickle(stream)
        except Exception:  # noqa: BLE001 - raw storage bytes, or truncated
            pass
        finally:
            stream.close()
    return found


def _globals_of_one_pickle(stream: IO[bytes]) -> List[str]:
    names, strings, memo = [], [], {}
    for op, arg, _ in pickletools.genops(stream):
        if op.name in ('GLOBAL', 'INST'):
            names.append(_py3_name(*arg.split(' ', 1)))
        elif op.name == 'STACK_GLOBAL' and len(strings) >= 2:
            names.append(_py3_name(strings[-2], strings[-1]))
        elif isinstance(arg, str) and 'UNICODE' in op.name:
            strings.append(arg)
        elif op.name in ('BINPUT', 'LONG_BINPUT', 'PUT') and strings:
            memo[arg] = strings[-1]
        elif op.name == 'MEMOIZE' and strings:
            memo[len(memo)] = strings[-1]
        elif op.name in ('BINGET', 'LONG_BINGET', 'GET') and arg in memo:
            strings.append(memo[arg])
        if op.name == 'STOP':
            break
    return names


def _py3_name(module: str, name: str) -> str:
    """``module.name`` as Python 3 (and torch's unpickler) resolves it:
    protocol-2 pickles say ``__builtin__.getattr``."""
    if (module, name) in NAME_MAPPING:
        module, name = NAME_MAPPING[(module, name)]
    else:
        module = IMPORT_MAPPING.get(module, module)
    return f'{module}.{name}'


def _allowed_global_names(extra: Sequence = ()) -> set:
    """Names weights-only loading accepts: torch's own defaults plus
    :func:`mmengine_safe_globals` plus ``extra`` (``(obj, name)`` pairs or
    objects)."""
    from torch import _weights_only_unpickler
    names = set(_weights_only_unpickler._get_allowed_globals())
    for entry in list(mmengine_safe_globals()) + list(extra):
        if isinstance(entry, tuple):
            names.add(entry[1])
        else:
            names.add(f'{entry.__module__}.{entry.__qualname__}')
    return names


def first_unsafe_global(path: str, extra: Sequence = ()) -> Optional[str]:
    """The first global in ``path`` that weights-only loading (with the
    MMEngine allow-list and ``extra``) refuses, or None."""
    allowed = _allowed_global_names(extra)
    return next((n for n in pickle_globals(path) if n not in allowed), None)


def _describe(f: Any) -> str:
    if isinstance(f, (str, os.PathLike)):
        return repr(os.fspath(f))
    return repr(getattr(f, 'name', None) or type(f).__name__)


def safe_torch_load(f: Any, map_location: Any = 'cpu',
                    extra_globals: Sequence = (), mmap: bool = False) -> Any:
    """The one way pomp_mm (and, patched, MMEngine) unpickles a torch file.

    ``torch.load(weights_only=True)`` with :func:`mmengine_safe_globals`
    (and ``extra_globals``) allowed inside this call only. A file that
    needs any other global is refused with one line naming the file and
    the first offending global (found by a static scan, before and without
    executing anything), never loaded with ``weights_only=False``.

    Args:
        f: A path or a binary file object.
        map_location: As for ``torch.load``. Defaults to ``'cpu'``.
        extra_globals (Sequence): More ``(obj, 'module.name')`` pairs to
            allow, e.g. inert stand-ins. Defaults to ().
        mmap (bool): Memory-map the tensors of a zip file (read only the
            pickle now); a legacy file is read whole. Defaults to False.

    Raises:
        UnsafeCheckpointError: The file pickles objects beyond the
            allow-list.
    """
    is_path = isinstance(f, (str, os.PathLike))
    if is_path and osp.isfile(f):
        bad = first_unsafe_global(os.fspath(f), extra_globals)
        if bad:
            raise UnsafeCheckpointError(_refusal(f, bad))
    try:
        with torch.serialization.safe_globals(
                mmengine_safe_globals() + list(extra_globals)):
            if mmap and is_path and zipfile.is_zipfile(f):
                return torch.load(f, map_location=map_location,
                                  weights_only=True, mmap=True)
            return torch.load(f, map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError as e:  # a file object, or a global the
        # scan missed; anything else (garbage bytes) is torch's own error
        match = re.search(r'GLOBAL (\S+)|reduce for unrecognized function '
                          r'(\S+)', str(e))
        if match is None:
            raise
        raise UnsafeCheckpointError(
            _refusal(f, match.group(1) or match.group(2))) from e


def _refusal(f: Any, offending: str) -> str:
    return (f'refusing to load {_describe(f)}: it pickles Python objects '
            f'beyond tensors (first: {offending}), and pomp_mm loads '
            'checkpoints weights-only so that no code from a file runs; '
            'expected tensors, containers and MMEngine checkpoint data '
            '(re-save weights you trust with torch.save(state_dict))')


def _inert_globals(names: Sequence[str]) -> list:
    """Inert stand-ins for the live objects an official POMP (Dassl)
    trainer file pickles, or None if ``names`` holds anything else.

    Dassl's ``save_checkpoint`` stores the warm-up scheduler's state dict,
    whose ``successor`` is a live ``CosineAnnealingLR`` holding its ``SGD``
    (whose state is a ``defaultdict``). Only classes of ``torch.optim``,
    ``collections.defaultdict`` and its ``dict`` factory qualify; each is
    replaced by :class:`_Inert` (or ``dict``) that runs nothing from the
    file, so their content is simply dropped.
    """
    stubs = []
    for name in names:
        module, _, attr = name.rpartition('.')
        if name == 'collections.defaultdict':
            stubs.append((_plain_dict, name))
        elif name == 'builtins.dict':
            stubs.append((dict, name))
        elif module in _TORCH_OPTIM_MODULES and attr[:1].isupper():
            stubs.append((_Inert, name))
        else:
            return None
    return stubs


_TORCH_OPTIM_MODULES = {
    'torch.optim.lr_scheduler', 'torch.optim.sgd', 'torch.optim.adam',
    'torch.optim.adamw', 'torch.optim.rmsprop', 'torch.optim.optimizer',
    'torch.optim.swa_utils'}


class _Inert:
    """Stands in for one pickled optimizer or scheduler: built and
    "restored" without running any code, holding nothing."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __setstate__(self, state: Any) -> None:
        pass


def _plain_dict(*args: Any) -> dict:
    """``collections.defaultdict(factory)`` read as an empty ``dict`` (the
    items that follow are set on it); the factory is never called."""
    return {}


def _trainer_stubs(path: str) -> Optional[list]:
    """:func:`_inert_globals` for the globals of ``path`` beyond the
    allow-list (None if there are none, or if any is not a trainer
    object)."""
    allowed = _allowed_global_names()
    unknown = [n for n in dict.fromkeys(pickle_globals(path))
               if n not in allowed]
    return _inert_globals(unknown) if unknown else None


def check_weights_only(path: str, trainer_objects: bool = False) -> None:
    """Refuse, before anything is unpickled, a file that weights-only
    loading would refuse: one line naming the file and the first offending
    global (a static scan).

    Args:
        path (str): A torch file.
        trainer_objects (bool): Also accept the live optimizer/scheduler
            objects of official POMP trainer files, which
            :func:`read_prompt_file` reads as inert stand-ins. Defaults to
            False.

    Raises:
        UnsafeCheckpointError: The file pickles other objects.
    """
    bad = first_unsafe_global(path)
    if bad and not (trainer_objects and _trainer_stubs(path)):
        raise UnsafeCheckpointError(_refusal(path, bad))


def checkpoint_file_problem(path: str) -> Optional[str]:
    """What is wrong with ``path`` as a torch file, in one line, or None.

    The one early check of a checkpoint file (``--resume``, ``load_from``,
    ``tools/test.py``, the resume hook). Cheap, and nothing is unpickled:

    * the file exists;
    * it is a zip file (``torch.save`` since torch 1.6) whose directory -
      written last, so a file cut short by a kill or a partial copy lacks
      it - lists a ``*/data.pkl``, or a legacy (pre-zip) torch pickle
      (first byte ``0x80``);
    * a static scan of its pickles finds no global that weights-only
      loading refuses (:func:`check_weights_only`; the trainer objects of
      official POMP files pass, :func:`read_prompt_file` reads them inert).

    Args:
        path (str): A checkpoint or prompt file.

    Returns:
        str or None: The problem, naming the file and what was expected
        (``<problem>; expected ...``), or None for a sound file.
    """
    if not osp.isfile(path):
        return (f'checkpoint {path!r} does not exist; expected a file such '
                'as work_dirs/x/epoch_3.pth or a prompt file')
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as e:
            return (f'checkpoint {path!r} is corrupt ({e}); expected a file '
                    'written by torch.save')
        has_data = any(n.endswith('/data.pkl') for n in names)
    else:
        with open(path, 'rb') as f:
            has_data = f.read(1) == b'\x80'  # a legacy (pre-zip) pickle
    if not has_data:
        return (f'checkpoint {path!r} is corrupt or truncated (no PyTorch '
                'data inside); expected a file written by torch.save, e.g. '
                'the previous epoch_N.pth')
    try:
        check_weights_only(path, trainer_objects=True)
    except UnsafeCheckpointError as e:
        return str(e)
    return None


def read_prompt_file(path: str) -> Any:
    """Read a prompt file weights-only (:func:`safe_torch_load`). An
    official POMP trainer file (Dassl ``model.pth.tar-N``), which pickles a
    live scheduler and optimizer, is read with those replaced by inert
    stand-ins (:func:`_inert_globals`). Nothing is ever unpickled with
    ``weights_only=False``."""
    try:
        return safe_torch_load(path)
    except UnsafeCheckpointError:
        stubs = _trainer_stubs(path)
        if not stubs:
            raise
    return safe_torch_load(path, extra_globals=stubs)


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
    """Read the prompt context ``ctx`` from any supported file (see
    :func:`load_prompt_file`, which also returns the file's ``meta``)."""
    return load_prompt_file(path, width, dtype)[0]


def load_prompt_file(path: str,
                     width: Optional[int] = None,
                     dtype: Optional[torch.dtype] = None
                     ) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Read the prompt context ``ctx``, and the file's ``meta``, from any
    supported file.

    Args:
        path (str): A prompt file (official or pomp_mm format), a released
            POMP file, a ZSSeg/detectron2 file or a full MMEngine checkpoint.
        width (int, optional): The text tower width the prompt is for; a
            different ctx width is an error. Defaults to None (no check).
        dtype (torch.dtype, optional): Cast ``ctx`` to this dtype (the text
            tower's). Defaults to None (keep the file's).

    Returns:
        tuple[Tensor, dict]: ``ctx``, (n_ctx, width) or (n_cls, n_ctx,
        width), and the ``meta`` pomp_mm writes (``clip_model``, ``n_ctx``,
        ...; ``{}`` for official and other files).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'prompt file {path!r} does not exist; '
                                'expected a prompt file (.pth)')
    try:
        obj = read_prompt_file(path)
    except UnsafeCheckpointError:
        raise  # one line naming the file and the offending global
    except Exception as e:  # noqa: BLE001 - corrupt/truncated files
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
    if ctx.numel() == 0:
        raise ValueError(f'prompt file {path!r}: ctx is empty (shape '
                         f'{tuple(ctx.shape)}); expected n_ctx >= 1 '
                         'context vectors')
    from .utils import check_finite_ctx
    check_finite_ctx(ctx, f'prompt file {path!r}')
    if width is not None and ctx.shape[-1] != width:
        raise ValueError(
            f'prompt file {path!r}: ctx width {ctx.shape[-1]} (shape '
            f'{tuple(ctx.shape)}) does not match the CLIP text width {width}'
            '; use a prompt trained for this CLIP model')
    if dtype is not None:
        ctx = ctx.to(dtype)
    meta = obj.get('meta') if isinstance(obj.get('meta'), dict) else {}
    return ctx, meta


class _ScriptObject:
    """Stands in for one module of a TorchScript archive while its pickle
    is read: it keeps its attributes (``BUILD`` fills ``__dict__``) and
    runs nothing. Subclassed per class name (``_ts_class``)."""

    _ts_class = ''

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)


def _script_members(zf: zipfile.ZipFile, root: str) -> Dict[str, tuple]:
    """``{'__torch__.pkg.Class': (parameters, buffers)}`` from the class
    declarations of an archive's ``code/`` (text, never executed)."""
    members = {}
    for name in zf.namelist():
        if not (name.startswith(root + 'code/') and name.endswith('.py')):
            continue
        module = name[len(root + 'code/'):-len('.py')].replace('/', '.')
        text = zf.read(name).decode('utf-8', errors='replace')
        for m in re.finditer(r'^class (\w+)\(Module\):\n((?:[ \t].*\n?)*)',
                             text, re.M):
            body = m.group(2)
            lists = []
            for field in ('__parameters__', '__buffers__'):
                found = re.search(field + r' = \[([^\]]*)\]', body)
                lists.append(tuple(re.findall(r'"([^"]+)"', found.group(1)))
                             if found else ())
            members[f'{module}.{m.group(1)}'] = tuple(lists)
    return members


def read_torchscript_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The state dict of a TorchScript archive (OpenAI's CLIP ``.pt``),
    read weights-only: nothing of the archive runs.

    ``torch.jit.load`` compiles and runs the archive's TorchScript (its
    ``__setstate__`` methods included). Here its ``data.pkl`` is read by
    torch's weights-only unpickler, each ``__torch__`` module class
    replaced by an inert record (:class:`_ScriptObject`); which attributes
    are parameters and buffers comes from the class declarations in
    ``code/`` (``__parameters__ = [...]``), read as text. Any other global
    is refused as by :func:`safe_torch_load`.

    Args:
        path (str): A TorchScript archive (``torch.jit.save``).

    Returns:
        dict: Parameter and buffer names to tensors, as
        ``torch.jit.load(path).state_dict()`` gives them.
    """
    with zipfile.ZipFile(path) as zf:
        pkl = next(n for n in zf.namelist() if n.endswith('/data.pkl'))
        root = pkl[:-len('data.pkl')]
        members = _script_members(zf, root)
    allowed = _allowed_global_names()
    records = []
    for name in dict.fromkeys(pickle_globals(path)):
        if name in allowed:
            continue
        if not name.startswith('__torch__.'):
            raise UnsafeCheckpointError(_refusal(path, name))
        cls = type(name.rsplit('.', 1)[-1], (_ScriptObject, ),
                   {'_ts_class': name})
        records.append((cls, name))
    from torch import _weights_only_unpickler
    with torch.serialization.safe_globals(records), \
            torch.serialization._open_zipfile_reader(path) as reader:
        top = torch.serialization._load(
            reader, 'cpu', _weights_only_unpickler, encoding='utf-8')
    state: Dict[str, torch.Tensor] = {}

    def walk(obj: _ScriptObject, prefix: str) -> None:
        params, buffers = members.get(obj._ts_class, ((), ()))
        for key, value in vars(obj).items():
            if isinstance(value, _ScriptObject):
                walk(value, f'{prefix}{key}.')
            elif key in params or key in buffers:
                if isinstance(value, torch.Tensor):  # None: absent bias
                    state[prefix + key] = value
    if not isinstance(top, _ScriptObject):
        raise ValueError(f'TorchScript archive {path!r} holds no module')
    walk(top, '')
    return state
