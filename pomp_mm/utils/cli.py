"""What ``tools/train.py`` and ``tools/test.py`` share (OpenMMLab flags)."""
import argparse
import ast
import difflib
import os
import os.path as osp
from pathlib import Path
from typing import Any, List, Optional, Sequence

import torch
from mmengine.config import Config, DictAction

from pomp_mm.core.checkpoint import (UnsafeCheckpointError,
                                     checkpoint_file_problem,
                                     read_prompt_file)


class CliError(Exception):
    """A bad command-line input; the tools print it as one line."""


def run_errors() -> tuple:
    """The errors of a run that the tools print as one line (a bad input
    found while building or running, never a programming error): NaN/Inf,
    an undefined loss, a checkpoint that is unsafe, does not fit or cannot
    be resumed, a file that cannot be written, a CLIP without weights."""
    from pomp_mm.core.checkpoint import (CheckpointMismatchError,
                                         UnsafeCheckpointError, WriteError)
    from pomp_mm.core.checkpoint_hook import ResumeError
    from pomp_mm.core.clip import RandomCLIPError
    from pomp_mm.core.hooks import NonFiniteError
    from pomp_mm.core.pomp_loss import UndefinedLossError
    return (NonFiniteError, UndefinedLossError, ResumeError,
            CheckpointMismatchError, UnsafeCheckpointError, WriteError,
            RandomCLIPError)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """The flags every OpenMMLab tool has."""
    parser.add_argument('--work-dir', help='folder for logs and checkpoints')
    parser.add_argument(
        '--amp', action='store_true',
        help='mixed precision (AmpOptimWrapper; needs a GPU)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. model.loss.log_base=10 '
        'train_cfg.max_epochs=2 (a key that looks like a typo of an '
        'existing key is refused)')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def check_cfg_options(cfg: Config, options: dict) -> None:
    """Refuse ``--cfg-options`` that look like typos or have the wrong type.

    A key whose parent exists but which is not there itself is accepted when
    it is new (configs may add options), and refused when it is within a
    small edit of an existing sibling key (``n_ctxx`` for ``n_ctx``). The
    value of an existing key must fit the type of the config's value (see
    :func:`check_option_type`): ``num_classes_per_step=2.5`` is refused here
    rather than crashing deep inside a build or a training step.

    Args:
        cfg (Config): The config the options will be merged into.
        options (dict): ``--cfg-options`` as parsed by ``DictAction``.

    Raises:
        CliError: On the first bad key or value.
    """
    for full_key in options:
        node, parts = cfg._cfg_dict, full_key.split('.')
        for depth, part in enumerate(parts):
            if isinstance(node, (list, tuple)) and part.isdigit():
                if int(part) >= len(node):
                    raise CliError(
                        f'--cfg-options {full_key}: index {part} is out of '
                        f'range for a list of {len(node)}')
                node = node[int(part)]
                continue
            if not isinstance(node, dict):
                break
            if part not in node:
                close = difflib.get_close_matches(
                    part, [str(k) for k in node], n=1, cutoff=0.8)
                if close:
                    where = '.'.join(parts[:depth]) or 'the config'
                    raise CliError(
                        f'--cfg-options {full_key}: {where} has no key '
                        f'{part!r}; did you mean {close[0]!r}?')
                break
            node = node[part]
        else:  # the key exists: its value's type is the expected one
            check_option_type(full_key, options[full_key], node)


def check_option_type(key: str, value: Any, current: Any) -> None:
    """Refuse a ``--cfg-options`` value that cannot replace ``current``.

    The expected type is the config's own value's: an ``int`` key takes an
    int (``DictAction`` reads ``2.5`` as a float and ``abc`` as a str, and
    ``True`` is no int here), a ``float`` key takes any number, a ``bool``
    key takes ``True`` or ``False``. ``None`` is always accepted (it
    switches an option off, e.g. ``num_classes_per_step=None`` for the full
    softmax), and a key that is ``None`` in the config, a string, a list or
    a dict is not checked: its type is not known from the config (a string
    key such as ``log_base='e'`` also takes a number).

    Args:
        key (str): The dotted key, for the message.
        value (Any): The value given on the command line.
        current (Any): The config's value of ``key``.

    Raises:
        CliError: If ``value`` does not fit.
    """
    if value is None or current is None:
        return
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(current, bool):
        ok, expected = isinstance(value, bool), 'True or False'
    elif isinstance(current, int):
        ok, expected = number and isinstance(value, int), 'an int'
    elif isinstance(current, float):
        ok, expected = number, 'a number'
    else:
        return
    if not ok:
        kind = type(value).__name__
        article = 'an' if kind[0] in 'aeiou' else 'a'
        raise CliError(f'--cfg-options {key}: {value!r} is {article} {kind};'
                       f' expected {expected} (the config has {current!r})')


#: The config formats ``Config.fromfile`` reads.
CONFIG_EXTENSIONS = ('.py', '.json', '.yaml', '.yml')
#: What "expected" says about a config.
CONFIG_EXPECTED = ('expected an OpenMMLab config such as '
                   'configs/pomp/pretrain.py')


def read_config(path: str) -> Config:
    """``Config.fromfile``, with every way it fails as one line.

    mmengine answers a file of another kind with ``OSError: Only
    py/yml/yaml/json type are supported now!``, a syntax error with a
    traceback ending in ``File "<unknown>"`` (no file named), and an error
    in the config's code with a traceback. Here each is a :class:`CliError`
    naming the file, the line where known, and what was expected; a Python
    config and its ``_base_`` files are parsed (not run) first.

    Args:
        path (str): The config file.

    Returns:
        Config: The loaded config.

    Raises:
        CliError: If the file is missing, not a config, not UTF-8 or valid
            Python, defines no ``model``, or fails to load.
    """
    if not osp.isfile(path):
        raise CliError(f'config file {path!r} does not exist; '
                       'expected a config file such as '
                       'configs/pomp/pretrain.py')
    ext = osp.splitext(path)[1]
    if ext not in CONFIG_EXTENSIONS:
        got = f'extension {ext!r}' if ext else 'no extension'
        raise CliError(f'config file {path!r} has {got}; expected a Python '
                       'config (.py, or .json/.yaml/.yml) such as '
                       'configs/pomp/pretrain.py')
    sources = check_python_config(path) if ext == '.py' else [path]
    try:
        cfg = Config.fromfile(path)
    except Exception as e:  # noqa: BLE001 - the config's own code failed
        raise CliError(f'config file {path!r} cannot be loaded '
                       f'({_config_error(e, sources)}); '
                       f'{CONFIG_EXPECTED}') from e
    if 'model' not in cfg:
        raise CliError(f'config file {path!r} defines no model; expected an '
                       'OpenMMLab config with model = dict(type=...), such '
                       'as configs/pomp/pretrain.py')
    return cfg


def check_python_config(path: str, child: Optional[str] = None) -> List[str]:
    """Parse a Python config and its ``_base_`` files without running them.

    Args:
        path (str): A ``.py`` config.
        child (str, optional): The config whose ``_base_`` ``path`` is, for
            the message. Defaults to None.

    Returns:
        list[str]: ``path`` and its base files (recursively), as given.

    Raises:
        CliError: If a file is not UTF-8, not valid Python, or names a
            ``_base_`` file that does not exist.
    """
    name = f'config file {path!r}' + (
        f' (a _base_ of {child!r})' if child else '')
    data = Path(path).read_bytes()
    try:
        tree = ast.parse(data.decode('utf-8'), filename=path)
    except UnicodeDecodeError as e:
        lineno = data.count(b'\n', 0, e.start) + 1
        raise CliError(f'{name}: line {lineno} is not UTF-8 (byte '
                       f'0x{data[e.start]:02x}); expected a UTF-8 Python '
                       'file') from None
    except (SyntaxError, ValueError) as e:  # ValueError: NUL bytes
        where = f'line {e.lineno}: ' if getattr(e, 'lineno', None) else ''
        reason = getattr(e, 'msg', None) or str(e)
        raise CliError(f'{name} is not valid Python ({where}{reason}); '
                       f'{CONFIG_EXPECTED}') from None
    sources = [path]
    for base in _base_files(tree):
        if '::' in base or '{{' in base:  # a package scope or a variable:
            continue  # mmengine resolves those
        base_path = osp.normpath(osp.join(osp.dirname(path), base))
        if not osp.isfile(base_path):
            raise CliError(f'{name}: _base_ file {base!r} does not exist '
                           f'(looked for {base_path!r}); {CONFIG_EXPECTED}')
        sources += check_python_config(base_path, path) \
            if base_path.endswith('.py') else [base_path]
    return sources


def _base_files(tree: ast.Module) -> List[str]:
    """The string(s) of a top-level ``_base_ = ...`` assignment."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_'
                for t in node.targets):
            values = node.value.elts if isinstance(
                node.value, (ast.List, ast.Tuple)) else [node.value]
            return [v.value for v in values if isinstance(v, ast.Constant)
                    and isinstance(v.value, str)]
    return []


def _config_error(e: BaseException, sources: Sequence[str]) -> str:
    """``[file, ]line N: Type: first line`` of an error loading a config.

    The line is that of the innermost traceback frame in one of the config
    files (mmengine runs a Python config's code under its own file name);
    a YAML error carries its own mark. An error mmengine re-raises (custom
    imports) is described by its cause.
    """
    if isinstance(e, ImportError) and e.__cause__ is not None:
        e = e.__cause__
    where = ''
    mark = getattr(e, 'problem_mark', None)  # yaml's MarkedYAMLError
    if mark is not None:
        where = f'line {mark.line + 1}: '
    files = {osp.abspath(p): p for p in sources}
    tb = e.__traceback__
    while tb is not None:
        src = files.get(tb.tb_frame.f_code.co_filename)
        if src is not None:
            where = (f'line {tb.tb_lineno}: ' if src == sources[0] else
                     f'{src!r} line {tb.tb_lineno}: ')
        tb = tb.tb_next
    text = str(getattr(e, 'problem', None) or e).strip()
    reason = text.splitlines()[0] if text else ''
    return f'{where}{type(e).__name__}' + (f': {reason}' if reason else '')


def check_output_file(path: str, flag: str = '--out') -> None:
    """Fail early, in one line, if a result file could not be written.

    Checked before any work: a folder (or a link to one) where a file is
    expected, or a parent path that is a file. The write itself goes
    through :func:`~pomp_mm.core.checkpoint.atomic_write` (which writes
    through a symlink).

    Args:
        path (str): The file a tool will write at the end.
        flag (str): The option that named it, for the message.
            Defaults to ``'--out'``.

    Raises:
        CliError: If ``path`` cannot be a file.
    """
    if osp.isdir(osp.realpath(path)):
        raise CliError(f'{flag} {path!r} is a directory; expected the path of'
                       ' a file to write, e.g. work_dirs/metrics.json')
    parent = osp.dirname(osp.normpath(path))
    while parent and not osp.exists(parent):
        parent = osp.dirname(parent)
    if parent and not osp.isdir(parent):
        raise CliError(f'{flag} {path!r}: {parent!r} is a file, not a folder;'
                       ' expected the path of a file to write, e.g. '
                       'work_dirs/metrics.json')


def load_config(args: argparse.Namespace) -> Config:
    """Read the config and apply the CLI flags (OpenMMLab conventions).

    Only what the flags ask for changes (``--cfg-options``, ``--work-dir``,
    ``--launcher``; ``work_dir`` defaults to ``./work_dirs/<config name>``
    as in OpenMMLab's tools): no dataloader or other default is filled in.
    """
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = read_config(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        check_cfg_options(cfg, args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    check_work_dir(cfg.work_dir)
    # Nothing else is added: a config runs the same here, under plain
    # Runner.from_cfg and under each codebase's own tools/train.py (a config
    # states its collate_fn; without one MMEngine uses pseudo_collate).
    return cfg


def check_work_dir(work_dir: str) -> None:
    """Fail early, in one line, if ``work_dir`` cannot be written."""
    try:
        os.makedirs(work_dir, exist_ok=True)
        probe = osp.join(work_dir, f'.write_test_{os.getpid()}')
        with open(probe, 'w') as f:
            f.write('ok')
        os.remove(probe)
    except OSError as e:
        raise CliError(f'work dir {work_dir!r} is not writable: '
                       f'{e.strerror or e}; expected a folder with free '
                       'space that this user can write (set --work-dir)'
                       ) from e


def check_checkpoint_file(path: str) -> None:
    """Fail early, in one line, if ``path`` is no readable torch file.

    Cheap: it reads the zip directory at the end of the file, which a file
    cut short (a run killed while saving, a partial copy) lacks, and scans
    the pickles for objects weights-only loading would refuse later, deep
    inside the runner. It does not unpickle anything
    (:func:`pomp_mm.core.checkpoint.checkpoint_file_problem`).

    Args:
        path (str): A checkpoint given to ``--resume`` (or found by it),
            ``load_from``, or ``tools/test.py``.
    """
    problem = checkpoint_file_problem(path)
    if problem:
        raise CliError(problem)


def enable_amp(cfg: Config) -> None:
    """``--amp`` for training: mmengine's AmpOptimWrapper (GPU only)."""
    if not torch.cuda.is_available():
        raise CliError('--amp uses mmengine AmpOptimWrapper, which needs a '
                       'GPU; run without --amp on CPU')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def prompt_only_file(path: str) -> bool | None:
    """True if ``path`` is a prompt file (weights-only loadable, with ctx).

    False for a full MMEngine checkpoint (which pickles Python objects).
    """
    check_checkpoint_file(path)
    try:
        obj = read_prompt_file(path)
    except UnsafeCheckpointError as e:
        raise CliError(str(e)) from e
    except Exception:  # noqa: BLE001 - torch's own reader failed
        return False
    if isinstance(obj, dict) and 'message_hub' in obj:
        return False  # an MMEngine checkpoint that happens to be tensors-only
    state = obj.get('state_dict', obj) if isinstance(obj, dict) else {}
    return isinstance(state, dict) and not any(
        k.startswith(('prompt_learner.', 'clip.')) for k in state)


def finish_distributed(cfg: Config) -> None:
    """Leave the process group of a finished ``--launcher pytorch`` run:
    every rank meets at a barrier, then destroys the group.

    A rank that exits with its gloo group alive can abort in teardown
    ("terminate called without an active exception", SIGABRT) when the
    other rank has already closed its sockets, so a run that finished turns
    into a failed one. A no-op without a process group, and for any other
    launcher (a group the caller started itself is left to the caller).
    """
    import torch.distributed as dist
    if cfg.get('launcher') == 'pytorch' and dist.is_available() and \
            dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def init_cpu_distributed(cfg: Config) -> None:
    """Start a gloo process group for ``--launcher pytorch`` on a machine
    without CUDA. MMEngine 0.10.7's ``init_dist`` calls
    ``torch.cuda.set_device`` unconditionally (the Runner skips it when a
    group already exists) and wraps the model with ``device_ids=[rank]``,
    which DDP refuses for CPU modules."""
    import torch.distributed as dist
    if cfg.launcher != 'pytorch' or torch.cuda.is_available() or \
            dist.is_initialized():
        return
    from mmengine.dist.utils import init_local_group
    dist.init_process_group(backend='gloo')
    per_node = int(os.environ.get('LOCAL_WORLD_SIZE', dist.get_world_size()))
    init_local_group(dist.get_rank() // per_node, per_node)
    # CPU modules take device_ids=None (MMEngine passes [LOCAL_RANK])
    wrapper = cfg.get('model_wrapper_cfg') or {
        'type': 'MMDistributedDataParallel', 'broadcast_buffers': False}
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    cfg.env_cfg = cfg.get('env_cfg') or {}
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
