"""Train with any pomp_mm config (POMP pre-training, CoOp, task models).

    python tools/train.py configs/pomp/pretrain.py
    python tools/train.py CONFIG --work-dir work_dirs/x --resume  # bit-exact
    python tools/train.py CONFIG --cfg-options model.loss.log_base=10
    bash tools/dist_train.sh CONFIG 8            # 8 GPUs, torchrun
"""
import argparse
import sys

from mmengine.registry import RUNNERS
from mmengine.runner import Runner, find_latest_checkpoint

import pomp_mm  # noqa: F401  (torchvision CPU repair, mmengine loading fix)
from pomp_mm.core import patch_mmengine_checkpoint_loading
from pomp_mm.utils.cli import (
    CliError,
    add_common_args,
    check_checkpoint_file,
    enable_amp,
    init_cpu_distributed,
    load_config,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a pomp_mm model')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or (no value) from the latest '
        'one in the work dir')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    add_common_args(parser)
    return parser.parse_args(argv)


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
    try:
        if args.resume == 'auto':
            cfg.resume, cfg.load_from = True, None
            # the checkpoint MMEngine will pick (none: a fresh start)
            latest = find_latest_checkpoint(cfg.work_dir)
            if latest:
                check_checkpoint_file(latest)
        elif args.resume is not None:
            check_checkpoint_file(args.resume)
            cfg.resume, cfg.load_from = True, args.resume
        elif cfg.get('load_from') and '://' not in cfg.load_from:
            check_checkpoint_file(cfg.load_from)
    except CliError as e:
        flag = 'load_from' if args.resume is None else '--resume'
        sys.exit(f'train.py: error: {flag}: {e}')
    init_cpu_distributed(cfg)
    patch_mmengine_checkpoint_loading()  # resume/load_from of our own runs
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg \
        else RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
