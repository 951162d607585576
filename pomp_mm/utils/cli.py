"""What ``tools/train.py`` and ``tools/test.py`` share (OpenMMLab flags)."""
import argparse
import difflib
import os
import os.path as osp
import zipfile

import torch
from mmengine.config import Config, ConfigDict, DictAction


class CliError(Exception):
    """A bad command-line input; the tools print it as one line."""


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
    """Refuse ``--cfg-options`` keys that look like typos of existing keys.

    A key whose parent exists but which is not there itself is accepted when
    it is new (configs may add options), and refused when it is within a
    small edit of an existing sibling key (``n_ctxx`` for ``n_ctx``).
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


def load_config(args: argparse.Namespace) -> Config:
    """Read the config and apply the CLI flags (OpenMMLab conventions)."""
    if not osp.isfile(args.config):
        raise CliError(f'config file {args.config!r} does not exist; '
                       'expected a config file such as '
                       'configs/pomp/pretrain.py')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = Config.fromfile(args.config)
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
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(field, None) is not None:
            defaults = ConfigDict(collate_fn={'type': 'default_collate'})
            defaults.update(cfg[field])
            cfg[field] = defaults
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
    cut short (a run killed while saving, a partial copy) lacks. It does
    not unpickle anything.

    Args:
        path (str): A checkpoint given to ``--resume`` (or found by it),
            ``load_from``, or ``tools/test.py``.
    """
    if not osp.isfile(path):
        raise CliError(f'checkpoint {path!r} does not exist; expected a '
                       'file such as work_dirs/x/epoch_3.pth or a prompt '
                       'file')
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as e:
            raise CliError(f'checkpoint {path!r} is corrupt ({e}); expected '
                           'a file written by torch.save') from e
        if any(n.endswith('/data.pkl') for n in names):
            return
    else:
        with open(path, 'rb') as f:
            if f.read(1) == b'\x80':  # a legacy (pre-zip) torch pickle
                return
    raise CliError(f'checkpoint {path!r} is corrupt or truncated (no '
                   'PyTorch data inside); expected a file written by '
                   'torch.save, e.g. the previous epoch_N.pth')


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
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception:  # noqa: BLE001 - not weights-only: a full checkpoint
        return False
    if isinstance(obj, dict) and 'message_hub' in obj:
        return False  # an MMEngine checkpoint that happens to be tensors-only
    state = obj.get('state_dict', obj) if isinstance(obj, dict) else {}
    return isinstance(state, dict) and not any(
        k.startswith(('prompt_learner.', 'clip.')) for k in state)


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
