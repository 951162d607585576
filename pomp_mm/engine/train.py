"""Train with any pomp_mm config (POMP pre-training, CoOp, task models):
the logic of ``tools/train.py`` (a thin CLI over :func:`main`).

    python tools/train.py configs/pomp/pretrain.py
    python tools/train.py CONFIG --work-dir work_dirs/x --resume  # bit-exact
    python tools/train.py CONFIG --cfg-options model.loss.log_base=10
    bash tools/dist_train.sh CONFIG 8            # 8 GPUs, torchrun

The work dir is locked for the run; a fresh run in a work dir that holds
checkpoints is refused (``--resume`` continues it, ``--overwrite`` starts
over in it); ``--resume`` without a file takes the newest intact checkpoint
(see :mod:`pomp_mm.core.checkpoint_hook`, which does the same under
MMEngine's own tools).
"""
import argparse
import os
import sys

from mmengine.registry import HOOKS

import pomp_mm  # noqa: F401  (torchvision CPU repair, mmengine loading fix)
from pomp_mm.core import SafeCheckpointHook
from pomp_mm.core.checkpoint_hook import (
    ResumeError,
    check_fits_model,
    checkpoint_folder,
    decide_start,
    lock_work_dir,
    unlock_work_dir,
)
from pomp_mm.core.utils import build_runner
from pomp_mm.utils.cli import (
    CliError,
    add_common_args,
    check_checkpoint_file,
    enable_amp,
    finish_distributed,
    init_cpu_distributed,
    load_config,
    run_errors,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a pomp_mm model')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or (no value) from the newest '
        'intact one in the work dir')
    parser.add_argument(
        '--overwrite', action='store_true',
        help='start over in a work dir that holds checkpoints of an earlier '
        'run (they are overwritten as this run reaches them); without it '
        'such a run is refused')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    add_common_args(parser)
    return parser.parse_args(argv)


def launch_rank(cfg) -> int:
    """This process's global rank, from the launcher's environment (the
    process group does not exist yet)."""
    if cfg.launcher == 'none':
        return 0
    for var in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'):
        if os.environ.get(var, '').isdigit():
            return int(os.environ[var])
    return 0


def plan_start(cfg, args) -> list:
    """Decide how the run starts (before anything is built) and set
    ``cfg.resume`` / ``cfg.load_from`` accordingly.

    Returns:
        list[str]: Log lines on the choice of checkpoint.

    Raises:
        CliError, ResumeError: One line.
    """
    hook = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    kind = hook.get('type')
    kind = HOOKS.get(kind) if isinstance(kind, str) else kind
    safe_hook = isinstance(kind, type) and issubclass(kind,
                                                      SafeCheckpointHook)
    by_epoch = hook.get('by_epoch', True)
    tmpl = hook.get('filename_tmpl') or \
        ('epoch_{}.pth' if by_epoch else 'iter_{}.pth')
    folder = checkpoint_folder(cfg.work_dir, hook.get('out_dir'))
    if args.resume is None:
        if cfg.get('load_from') and '://' not in cfg.load_from:
            check_checkpoint_file(cfg.load_from)
        overwrite = args.overwrite or bool(hook.get('overwrite', False))
        if overwrite and safe_hook:
            hook['overwrite'] = True  # the hook checks again at before_run
        _, notes = decide_start(cfg.work_dir, folder, tmpl,
                                overwrite=overwrite)
        return notes
    requested = None if args.resume == 'auto' else args.resume
    path, notes = decide_start(cfg.work_dir, folder, tmpl, resume=True,
                               load_from=requested,
                               model_cfg=cfg.get('model'))
    cfg.resume, cfg.load_from = True, path
    return notes


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = load_config(args)
        if args.amp:
            enable_amp(cfg)
    except CliError as e:
        sys.exit(f'train.py: error: {e}')
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    try:  # one training per work dir (released after the run or at exit)
        locked = launch_rank(cfg) == 0 and lock_work_dir(cfg.work_dir)
    except ResumeError as e:
        sys.exit(f'train.py: error: {e}')
    try:
        notes = plan_start(cfg, args)
    except (CliError, ResumeError) as e:
        if locked:
            unlock_work_dir(cfg.work_dir)
        flag = '--resume: ' if args.resume is not None else \
            'load_from: ' if isinstance(e, CliError) else ''
        sys.exit(f'train.py: error: {flag}{e}')
    init_cpu_distributed(cfg)
    try:
        runner = build_runner(cfg)
        for note in notes:
            runner.logger.info(f'train.py: {note}')
        if cfg.resume and cfg.load_from:
            # a changed config (n_ctx, classes): before anything loads
            check_fits_model(cfg.load_from, runner.model)
        runner.train()
        finish_distributed(cfg)
    except run_errors() as e:  # NaN/Inf, undefined loss, bad checkpoint,
        if locked:             # full disk: one line
            unlock_work_dir(cfg.work_dir)
        flag = '--resume: ' if isinstance(e, ResumeError) and \
            args.resume is not None else ''
        sys.exit(f'train.py: error: {flag}{str(e).splitlines()[0]}')


#: ``train(argv)``: the same entry point under its task's name.
train = main
