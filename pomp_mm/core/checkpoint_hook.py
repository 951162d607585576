"""Training checkpoints that survive crashes, full disks and second runs.

MMEngine's ``CheckpointHook`` writes ``epoch_N.pth`` and ``last_checkpoint``
in place (a full disk or a kill leaves them truncated or empty), deletes the
oldest checkpoint *before* it writes the new one, and ``--resume`` trusts
``last_checkpoint`` blindly: missing, it restarts from epoch 1 over the
intact checkpoints; garbage, it is a traceback. :class:`SafeCheckpointHook`
(``default_hooks.checkpoint`` of the pomp_mm runtimes) and the functions
here fix that, under ``tools/train.py``, the codebases' own
``tools/train.py`` and ``Runner.from_cfg`` alike:

* checkpoints and ``last_checkpoint`` are written to a temp file and renamed
  (:class:`AtomicLocalBackend`); the oldest checkpoint is removed only once
  the new one is complete;
* a resume without a file (``--resume``, ``resume=True``) takes the newest
  *intact* checkpoint (:func:`find_resume_checkpoint`): the one
  ``last_checkpoint`` names if it is sound, else the newest sound
  ``epoch_N.pth`` / ``iter_N.pth``, each verified by a weights-only read;
* a resume file that is a prompt file, unreadable, or shaped for another
  model (``n_ctx`` changed) is refused in one line before anything loads;
* a fresh start in a work dir that holds checkpoints is refused unless
  told to (``overwrite=True``, ``tools/train.py --overwrite``);
* the work dir is locked (``flock`` on ``work_dir/.lock``) for the run: a
  second training into it stops in one line naming the pid holding it. The
  kernel drops the lock when its process dies, even by SIGKILL.

Nothing here unpickles with ``weights_only=False``.
"""
import errno
import logging
import os
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Tuple

import torch
from mmengine.dist import broadcast_object_list, get_rank, get_world_size
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import BaseLoop

from .checkpoint import (UnsafeCheckpointError, atomic_write,
                         atomic_write_text, checkpoint_file_problem,
                         safe_torch_load)
from .utils import unwrap_model

try:  # POSIX; elsewhere the work dir is not locked (with a warning)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: MMEngine's pointer to the newest checkpoint, in the work dir.
LAST_CHECKPOINT = 'last_checkpoint'
#: The lock file held (``flock``) by the training that owns a work dir.
LOCK_FILE = '.lock'
#: Name of :class:`AtomicLocalBackend` in MMEngine's file-backend registry.
ATOMIC_BACKEND = 'pomp_atomic_local'
#: Checkpoint names every scan looks for, besides the hook's own template.
DEFAULT_TEMPLATES = ('epoch_{}.pth', 'iter_{}.pth')


class ResumeError(ValueError):
    """A resume or work-dir problem, told in one line (the tools print it
    as ``train.py: error: <message>``)."""


# -- atomic writes ------------------------------------------------------------
class AtomicLocalBackend(LocalBackend):
    """MMEngine's local file backend, writing through a temp file + rename.

    ``runner.save_checkpoint`` serialises the checkpoint to bytes, then
    calls ``backend.put``: with this backend a full disk or a kill mid-write
    leaves the previous file intact and no half-written one behind.
    """

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(str(filepath), lambda f: f.write(obj))

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(str(filepath), lambda f: f.write(obj.encode(encoding)))


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


# -- finding and verifying checkpoints ----------------------------------------
def checkpoint_folder(work_dir: str, out_dir: Optional[str] = None) -> str:
    """Where ``CheckpointHook(out_dir=...)`` puts the checkpoints of a run.

    Args:
        work_dir (str): The run's work dir.
        out_dir (str, optional): The hook's ``out_dir``; MMEngine then saves
            to ``out_dir/<last folder of work_dir>``. Defaults to None (the
            work dir itself).
    """
    if not out_dir or osp.abspath(out_dir) == osp.abspath(work_dir):
        return work_dir
    return osp.join(out_dir, osp.basename(work_dir.rstrip(osp.sep)))


def list_checkpoints(folder: str, filename_tmpl: Optional[str] = None
                     ) -> List[str]:
    """The checkpoints in ``folder``, newest first.

    Files named by ``filename_tmpl`` (the hook's, ``epoch_{}.pth`` by
    default) come first, by their number, highest first; then those named
    by the other default template (``iter_{}.pth``), likewise. Temp files
    of unfinished writes and ``best_*.pth`` are not checkpoints to resume.

    Args:
        folder (str): The checkpoint folder.
        filename_tmpl (str, optional): The hook's template, with one
            ``{}``. Defaults to None (``epoch_{}.pth``).

    Returns:
        list[str]: Paths ``folder/<name>``.
    """
    if '://' in folder or not osp.isdir(folder):
        return []
    templates = [filename_tmpl or DEFAULT_TEMPLATES[0]]
    templates += [t for t in DEFAULT_TEMPLATES if t not in templates]
    names = os.listdir(folder)
    found: List[str] = []
    for tmpl in templates:
        head, _, tail = tmpl.partition('{}')
        pattern = re.compile(re.escape(head) + r'(\d+)' + re.escape(tail) +
                             '$')
        numbered = [(int(m.group(1)), name) for name in names
                    if (m := pattern.match(name))]
        found += [osp.join(folder, name) for _, name in
                  sorted(numbered, reverse=True)
                  if osp.join(folder, name) not in found]
    return found


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def read_checkpoint(path: str) -> Tuple[Any, Optional[str]]:
    """Read a checkpoint's structure weights-only, without its tensor data.

    The tensors are memory-mapped (``mmap=True``), so this costs the pickle
    (a few KB to MB), not the weights. Only tensors, containers and the
    MMEngine names are accepted (:func:`safe_torch_load`): a file
    that pickles anything else is refused, nothing in it runs.

    Args:
        path (str): A torch file.

    Returns:
        tuple: ``(object, None)``, or ``(None, problem)`` with the problem
        in one clause naming the file.
    """
    problem = checkpoint_file_problem(path)
    if problem:  # the clause before "; expected ..."
        return None, problem.split(';')[0]
    return _read_structure(path)


def _read_structure(path: str) -> Tuple[Any, Optional[str]]:
    """:func:`read_checkpoint` of a file that passed
    :func:`checkpoint_file_problem`."""
    try:
        return safe_torch_load(path, mmap=True), None
    except UnsafeCheckpointError as e:
        return None, str(e)
    except Exception as e:  # noqa: BLE001 - any unreadable file
        return None, f'checkpoint {path!r} cannot be read ({_first_line(e)})'


def is_training_checkpoint(obj: Any) -> bool:
    """Whether ``obj`` is what ``Runner.resume`` needs: an MMEngine
    checkpoint with ``meta`` (epoch, iter), ``state_dict`` and
    ``message_hub``."""
    if not isinstance(obj, dict):
        return False
    meta = obj.get('meta')
    return isinstance(meta, dict) and 'epoch' in meta and 'iter' in meta \
        and isinstance(obj.get('state_dict'), dict) and 'message_hub' in obj


def _looks_like_prompt(obj: Any) -> bool:
    """A prompt file: a ``ctx`` tensor and no training state (the official
    format, pomp_mm's, ZSSeg's); see ``pomp_mm.utils.cli.prompt_only_file``.
    """
    if not isinstance(obj, dict) or 'message_hub' in obj:
        return False
    state = obj
    for key in ('state_dict', 'model'):
        if isinstance(obj.get(key), dict):
            state = obj[key]
            break
    if any(str(k).startswith(('prompt_learner.', 'clip.')) for k in state):
        return False  # a model's state dict (e.g. a published checkpoint)
    return any(isinstance(v, torch.Tensor) and (k == 'ctx' or
                                                str(k).endswith('.ctx'))
               for k, v in state.items())


def prompt_checkpoint_key(model_cfg: Any, prefix: str = 'model') -> str:
    """The first ``prompt_checkpoint`` key of a model config, dotted
    (``model.prompt_learner.prompt_checkpoint``), or ''."""
    items = model_cfg.items() if isinstance(model_cfg, dict) else \
        enumerate(model_cfg) if isinstance(model_cfg, (list, tuple)) else ()
    for key, value in items:
        if key == 'prompt_checkpoint':
            return f'{prefix}.{key}'
        found = prompt_checkpoint_key(value, f'{prefix}.{key}')
        if found:
            return found
    return ''


def check_resume_file(path: str, model_cfg: Any = None) -> Dict[str, Any]:
    """Refuse, in one line, a file that ``--resume`` cannot continue from.

    Args:
        path (str): The file given to ``--resume`` (or ``load_from`` with
            ``resume=True``).
        model_cfg (dict, optional): The model config; names the
            ``prompt_checkpoint`` key to suggest for a prompt file.

    Returns:
        dict: The checkpoint's structure (tensors memory-mapped).

    Raises:
        ResumeError: The file is missing, truncated, unsafe, a prompt file
            or no MMEngine training checkpoint.
    """
    if not osp.isfile(path):
        raise ResumeError(f'checkpoint {path!r} does not exist; expected a '
                          'training checkpoint such as '
                          'work_dirs/x/epoch_3.pth')
    problem = checkpoint_file_problem(path)
    if problem:  # truncated, unsafe: the tools' usual line
        raise ResumeError(problem)
    obj, problem = _read_structure(path)
    if problem:
        raise ResumeError(f'{problem}; expected a file written by '
                          "MMEngine's CheckpointHook, e.g. the previous "
                          'epoch_N.pth')
    if is_training_checkpoint(obj):
        return obj
    if _looks_like_prompt(obj):
        key = prompt_checkpoint_key(model_cfg or {}) or \
            'model.prompt_learner.prompt_checkpoint'
        raise ResumeError(
            f'{path!r} is a prompt file (the prompt context only), not a '
            'training checkpoint; to start training from this prompt set '
            f'{key}={path} (--cfg-options), or resume from an epoch_N.pth '
            '/ iter_N.pth')
    raise ResumeError(
        f'checkpoint {path!r} is no MMEngine training checkpoint (it lacks '
        "'meta' with epoch and iter, 'state_dict' or 'message_hub'); expected"
        ' an epoch_N.pth / iter_N.pth written by training (to start from '
        'weights only, use load_from without --resume)')


def check_fits_model(path: str, model: Any) -> None:
    """Refuse to resume a model the checkpoint was not written for.

    A config changed since the checkpoint was written (``n_ctx``, a class
    count) would otherwise end in a size-mismatch traceback deep inside
    MMEngine's loader; a checkpoint of another model (its keys all
    different) would load nothing, silently (MMEngine resumes with
    ``strict=False``).

    Args:
        path (str): A training checkpoint (read weights-only, its tensors
            memory-mapped: only their shapes are looked at).
        model (nn.Module): The runner's model (wrapped or not); anything
            else (a FlexibleRunner's model config) is not checked.

    Raises:
        ResumeError: Names the first differing key and both shapes, or the
            first learned parameter the checkpoint lacks, and the file.
    """
    model = unwrap_model(model)
    if not isinstance(model, torch.nn.Module) or not osp.isfile(path):
        return
    checkpoint = check_resume_file(path)
    theirs = {re.sub(r'^module\.', '', k): v  # as MMEngine's loader does
              for k, v in checkpoint.get('state_dict', {}).items()}
    ours = model.state_dict()
    mismatched = [(k, tuple(v.shape), tuple(ours[k].shape))
                  for k, v in theirs.items()
                  if k in ours and isinstance(v, torch.Tensor) and
                  hasattr(ours[k], 'shape') and
                  tuple(v.shape) != tuple(ours[k].shape)]
    fix = ('resume with the config it was trained with, or train the '
           'changed config into another work dir')
    if mismatched:
        key, shape, mine = mismatched[0]
        more = f' (and {len(mismatched) - 1} more)' if len(mismatched) > 1 \
            else ''
        raise ResumeError(
            f'checkpoint {path!r} does not fit the model: {key!r} is '
            f'{shape} in the checkpoint but {mine} in the model{more}; {fix}')
    missing = [k for k, p in model.named_parameters()
               if p.requires_grad and k not in theirs]
    if missing:
        more = f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''
        raise ResumeError(
            f'checkpoint {path!r} does not fit the model: it lacks the '
            f'learned parameter {missing[0]!r}{more}; {fix}')


def read_last_checkpoint(work_dir: str) -> Tuple[Optional[str], str]:
    """The path ``work_dir/last_checkpoint`` names.

    Returns:
        tuple: ``(path, '')``, or ``(None, why not)`` for a missing, empty or
        non-text file.
    """
    pointer = osp.join(work_dir, LAST_CHECKPOINT)
    if not osp.isfile(pointer):
        return None, f'no {pointer!r}'
    try:
        with open(pointer, 'rb') as f:
            raw = f.read(64 * 1024)
        text = raw.decode('utf-8').strip()
    except OSError as e:
        return None, f'{pointer!r} cannot be read ({e.strerror or e})'
    except UnicodeDecodeError:
        return None, f'{pointer!r} is not UTF-8 text'
    if not text:
        return None, f'{pointer!r} is empty'
    if '\n' in text or '\x00' in text:
        return None, f'{pointer!r} holds more than one path'
    return text, ''


def find_resume_checkpoint(work_dir: str, folder: Optional[str] = None,
                           filename_tmpl: Optional[str] = None
                           ) -> Tuple[Optional[str], List[str], List[str]]:
    """The newest intact checkpoint to resume a run in ``work_dir``.

    ``last_checkpoint`` is taken when it names a sound training checkpoint;
    otherwise the checkpoints of ``folder`` are tried newest first
    (:func:`list_checkpoints`) and the first sound one is taken. "Sound":
    a complete torch file that reads weights-only and holds MMEngine's
    training state (:func:`read_checkpoint`, :func:`is_training_checkpoint`).

    Args:
        work_dir (str): The run's work dir (holds ``last_checkpoint``).
        folder (str, optional): The checkpoint folder. Defaults to None
            (the work dir).
        filename_tmpl (str, optional): The hook's file name template.

    Returns:
        tuple: ``(path or None, notes, problems)``: ``notes`` are log lines
        saying what was taken and what was skipped and why; ``problems``
        are the skipped checkpoint files' problems (empty when every
        checkpoint is sound).
    """
    folder = folder or work_dir
    notes: List[str] = []
    problems: List[str] = []

    def problem_of(path: str) -> Optional[str]:
        obj, problem = read_checkpoint(path)
        if problem is None and not is_training_checkpoint(obj):
            problem = (f'{path!r} is a prompt file, not a training checkpoint'
                       if _looks_like_prompt(obj) else
                       f'{path!r} is no MMEngine training checkpoint')
        return problem

    named, why = read_last_checkpoint(work_dir)
    if named is None:
        notes.append(f'{why}; looking for the newest intact checkpoint in '
                     f'{folder!r}')
    elif not osp.exists(named):
        notes.append(f'{LAST_CHECKPOINT} names {named!r}, which does not '
                     f'exist; looking for the newest intact checkpoint in '
                     f'{folder!r}')
    else:
        problem = problem_of(named) if osp.isfile(named) else None
        if problem is None:  # (a directory: a DeepSpeed checkpoint)
            notes.append(f'resuming from {named!r}, named by '
                         f'{osp.join(work_dir, LAST_CHECKPOINT)!r}')
            return named, notes, problems
        problems.append(problem)
        notes.append(f'{LAST_CHECKPOINT} names an unusable checkpoint '
                     f'({problem}); looking for the newest intact '
                     f'checkpoint in {folder!r}')
    for path in list_checkpoints(folder, filename_tmpl):
        if named and osp.exists(named) and osp.samefile(path, named):
            continue  # tried above
        problem = problem_of(path) if osp.isfile(path) else None
        if problem is None:
            notes.append(f'resuming from {path!r}, the newest intact '
                         'checkpoint')
            return path, notes, problems
        problems.append(problem)
        notes.append(f'skipped: {problem}')
    return None, notes, problems


def no_intact_checkpoint(work_dir: str, problems: List[str]) -> str:
    """The one line for a resume whose checkpoints are all unusable."""
    shown = '; '.join(problems[:3]) + ('; ...' if len(problems) > 3 else '')
    return (f'work dir {work_dir!r} holds checkpoints but none is intact '
            f'({shown}); remove the broken files to start over, or choose '
            'another work dir')


def work_dir_not_empty(work_dir: str, newest: str, overwrite_hint: str
                       ) -> str:
    """The one line refusing a fresh start over existing checkpoints."""
    return (f'work dir {work_dir!r} already holds checkpoints (newest: '
            f'{newest}); pass --resume to continue that training or choose '
            f'another --work-dir ({overwrite_hint} starts over in it)')


def decide_start(work_dir: str,
                 folder: Optional[str] = None,
                 filename_tmpl: Optional[str] = None,
                 resume: bool = False,
                 load_from: Optional[str] = None,
                 overwrite: bool = False,
                 overwrite_hint: str = '--overwrite',
                 model_cfg: Any = None) -> Tuple[Optional[str], List[str]]:
    """How a training in ``work_dir`` starts, checked before anything runs.

    * ``resume`` without ``load_from``: the newest intact checkpoint
      (:func:`find_resume_checkpoint`), or a start from scratch if the
      folder holds none; checkpoints that are all broken are an error;
    * ``resume`` with ``load_from``: that file, if it is a training
      checkpoint (:func:`check_resume_file`);
    * otherwise a fresh start, refused if the folder holds checkpoints and
      not ``overwrite``.

    Args:
        work_dir (str): The run's work dir.
        folder (str, optional): Its checkpoint folder
            (:func:`checkpoint_folder`). Defaults to the work dir.
        filename_tmpl (str, optional): The checkpoint hook's template.
        resume (bool): The run resumes. Defaults to False.
        load_from (str, optional): The file to resume or load from.
        overwrite (bool): Allow a fresh start over checkpoints.
        overwrite_hint (str): How the user allows it, for the message.
        model_cfg (dict, optional): The model config (for the advice on a
            prompt file given to ``--resume``).

    Returns:
        tuple: ``(load_from, notes)``: the file to resume or load from
        (None: from scratch) and log lines on how it was chosen.

    Raises:
        ResumeError: One line; nothing was loaded or written.
    """
    folder = folder or work_dir
    if resume and load_from is None:
        path, notes, problems = find_resume_checkpoint(
            work_dir, folder, filename_tmpl)
        if path is None and problems:
            raise ResumeError(no_intact_checkpoint(work_dir, problems))
        if path is None:
            notes.append(f'no checkpoint in {folder!r}: training starts from '
                         'scratch')
        return path, notes
    if resume:
        if '://' not in load_from:
            check_resume_file(load_from, model_cfg)
        return load_from, []
    existing = list_checkpoints(folder, filename_tmpl)
    if existing and not overwrite:
        raise ResumeError(work_dir_not_empty(work_dir, existing[0],
                                             overwrite_hint))
    if existing:
        return load_from, [
            f'starting over in {work_dir!r} (overwrite): its checkpoints '
            f'(newest: {existing[0]}) are overwritten as this run reaches '
            'them']
    return load_from, []


# -- the work-dir lock --------------------------------------------------------
#: Locks held by this process: real path of the work dir -> lock file fd.
_HELD: Dict[str, int] = {}


def _drop_inherited_locks() -> None:
    """In a forked child (a data-loader worker): close the lock fds it
    inherited, without unlocking. The lock is the parent's alone, so it
    ends with the parent even while killed workers are still exiting."""
    for fd in _HELD.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_drop_inherited_locks)


def lock_work_dir(work_dir: str) -> bool:
    """Take ``work_dir/.lock`` (``flock``, exclusive) for this process.

    Re-entrant within a process (a tool that builds its runner after
    locking, tests calling ``main()`` twice). The kernel releases the lock
    when the process ends, however it ends: a killed run never blocks the
    next one.

    Args:
        work_dir (str): The work dir (created if missing).

    Returns:
        bool: True if this call took the lock, False if this process
        already held it (or locks are unsupported here).

    Raises:
        ResumeError: Another process holds it; names the work dir and the
            pid written in the lock file.
    """
    key = osp.realpath(work_dir)
    if key in _HELD:
        return False
    if fcntl is None:  # pragma: no cover - Windows
        print_log(f'work dir {work_dir!r} is not locked: no fcntl here',
                  logger='current', level=logging.WARNING)
        return False
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        try:
            holder = os.pread(fd, 32, 0).decode('ascii', 'replace').strip()
        finally:
            os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        who = f'pid {holder}' if holder.isdigit() else 'another process'
        raise ResumeError(
            f'work dir {work_dir!r} is in use by another training ({who} '
            f'holds {path!r}); wait for it to finish or choose another '
            '--work-dir') from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'{os.getpid()}\n'.encode('ascii'), 0)
    _HELD[key] = fd
    return True


def unlock_work_dir(work_dir: str) -> None:
    """Release this process's lock on ``work_dir`` (if it holds one). The
    lock file stays; its pid is only read while it is locked."""
    fd = _HELD.pop(osp.realpath(work_dir), None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# -- the hook -----------------------------------------------------------------
@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook`` that loses nothing and resumes safely.

    Every argument of ``CheckpointHook`` works as there. On top of it:

    * checkpoints and ``last_checkpoint`` are written atomically (the
      default ``backend_args`` selects :class:`AtomicLocalBackend`; a user's
      own ``backend_args`` or ``file_client_args`` are kept as given), and
      with ``max_keep_ckpts`` the oldest file goes only after the new one
      and ``last_checkpoint`` are complete;
    * when training starts (``before_run``, before MMEngine loads anything)
      it locks the work dir, picks the newest intact checkpoint for a
      resume without a file (:func:`find_resume_checkpoint`), refuses a
      resume file that is no training checkpoint or does not fit the model,
      and refuses a fresh start over existing checkpoints unless
      ``overwrite``. The lock is released after the run.

    Rank 0 decides; the other ranks follow its decision.

    Args:
        overwrite (bool): Allow a fresh (not resumed) run in a work dir
            that holds checkpoints; they are overwritten as the run reaches
            them. Defaults to False.
        lock (bool): Lock the work dir for the run. Defaults to True.
        **kwargs: ``CheckpointHook``'s arguments.
    """

    def __init__(self, *args, overwrite: bool = False, lock: bool = True,
                 **kwargs) -> None:
        if kwargs.get('backend_args') is None and \
                kwargs.get('file_client_args') is None:
            kwargs['backend_args'] = {'backend': ATOMIC_BACKEND}
        super().__init__(*args, **kwargs)
        self.overwrite = overwrite
        self.lock = lock
        self._prepared = False

    # -- start of training --------------------------------------------------
    def before_run(self, runner) -> None:
        loop = getattr(runner, '_train_loop', None)
        if self._prepared or not isinstance(loop, BaseLoop):
            return  # test()/val(), or a second run of this runner
        self.prepare(runner)

    def prepare(self, runner) -> None:
        """Lock, choose or check the resume checkpoint, or refuse a fresh
        start over existing checkpoints (see the class doc).

        Raises:
            ResumeError: One line; nothing was loaded or written.
        """
        self._prepared = True
        decision: List[Any] = [None]
        if get_rank() == 0:
            try:
                decision[0] = ('ok', *self._decide(runner))
            except ResumeError as e:
                decision[0] = ('error', str(e), [])
        if get_world_size() > 1:
            broadcast_object_list(decision)
        status, value, notes = decision[0]
        for note in notes:
            runner.logger.info(f'{type(self).__name__}: {note}')
        if status == 'error':
            unlock_work_dir(runner.work_dir)  # (if this process took it)
            raise ResumeError(value)
        if value is not None:
            runner._load_from = value

    def _decide(self, runner) -> Tuple[Optional[str], List[str]]:
        """Rank 0's decision: ``(file to resume from or None, notes)``."""
        work_dir = runner.work_dir
        if self.lock:
            lock_work_dir(work_dir)
        folder = checkpoint_folder(work_dir, self.out_dir)
        if '://' in folder:
            return None, [f'{folder!r} is not local: its checkpoints are '
                          'not verified']
        resume = bool(getattr(runner, '_resume', False))
        if resume and getattr(runner, '_has_loaded', False):
            return None, []  # a FlexibleRunner resumes before before_run
        model_cfg = runner.cfg.get('model') if runner.cfg else None
        path, notes = decide_start(
            work_dir, folder, self.filename_tmpl, resume,
            getattr(runner, '_load_from', None), self.overwrite,
            '--cfg-options default_hooks.checkpoint.overwrite=True',
            model_cfg)
        if resume and path is not None:
            check_fits_model(path, runner.model)
        return (path if resume else None), notes

    def after_run(self, runner) -> None:
        # whoever took it (tools/train.py takes it before the runner is
        # built): the run that needed it is over
        if self._prepared and self.lock:
            unlock_work_dir(runner.work_dir)

    # -- saving ---------------------------------------------------------------
    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """MMEngine 0.10.7's, reordered: save, point ``last_checkpoint`` at
        it (atomically), and only then remove the oldest checkpoint."""
        outdated = None
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if get_rank() != 0:
            return
        atomic_write_text(osp.join(runner.work_dir, LAST_CHECKPOINT),
                          self.last_ckpt)
        if outdated is not None and outdated != step:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # DeepSpeed: a folder
                self.file_backend.rmtree(path)
