"""Test any pomp_mm config with a prompt file or a full checkpoint: the
logic of ``tools/test.py`` (a thin CLI over :func:`main`, which returns the
metrics).

    python tools/test.py CONFIG work_dirs/pretrain/prompt_latest.pth
    python tools/test.py CONFIG work_dirs/x/epoch_5.pth      # MMEngine ckpt
    python tools/test.py CONFIG                              # config as is
    python tools/test.py CONFIG PROMPT --cfg-options \
        test_dataloader.dataset.data_root=data/target

A prompt file (``{'state_dict': {'ctx': ...}}``, official or pomp_mm) is
loaded into every prompt learner of the model, whatever the task; any other
checkpoint goes to MMEngine's ``load_from``.
"""
import argparse
import json
import os.path as osp
import sys

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import pomp_mm  # noqa: F401
from pomp_mm.core.checkpoint import CheckpointMismatchError, atomic_write_text
from pomp_mm.core.prompt import load_prompt
from pomp_mm.utils.cli import (CliError, add_common_args,
                               check_checkpoint_file, check_output_file,
                               init_cpu_distributed,
                               load_config, prompt_only_file, run_errors)


def drop_prompt_checkpoints(node) -> None:
    """Set every ``prompt_checkpoint`` of a model config to None."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'prompt_checkpoint':
                node[key] = None
            else:
                drop_prompt_checkpoints(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            drop_prompt_checkpoints(value)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a pomp_mm model')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?',
                        help='prompt file or MMEngine checkpoint')
    parser.add_argument('--out', help='also write the metrics to this JSON')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.out:  # before any work, not after the whole test
        try:
            check_output_file(args.out)
        except CliError as e:
            sys.exit(f'test.py: error: {e}')
    prompt = None
    try:
        cfg = load_config(args)
        if args.checkpoint:
            if prompt_only_file(args.checkpoint):
                prompt = args.checkpoint
                # the CLI prompt replaces any configured one: don't read it
                drop_prompt_checkpoints(cfg.model)
            else:
                cfg.load_from = args.checkpoint
        if cfg.get('load_from') and '://' not in cfg.load_from:
            check_checkpoint_file(cfg.load_from)  # before any work
    except CliError as e:
        sys.exit(f'test.py: error: {e}')
    if args.amp:
        cfg.test_cfg = cfg.get('test_cfg') or {}
        cfg.test_cfg.fp16 = True
    init_cpu_distributed(cfg)
    try:
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg \
            else RUNNERS.build(cfg)
    except run_errors() as e:  # e.g. a CLIP without weights: one line
        sys.exit(f'test.py: error: {str(e).splitlines()[0]}')
    if prompt is not None:
        try:
            n = len(load_prompt(runner.model, prompt, log=False))
        except (ValueError, FileNotFoundError) as e:
            sys.exit(f'test.py: error: {e}')
        runner.logger.info(f'loaded prompt {prompt} into {n} learner(s)')
    try:  # load_from now, before the test: a misfit is one line
        runner.load_or_resume()
    except CheckpointMismatchError as e:
        sys.exit(f'test.py: error: {cfg.load_from}: {e}')
    try:
        metrics = runner.test()
    except run_errors() as e:
        sys.exit(f'test.py: error: {str(e).splitlines()[0]}')
    if args.out:
        atomic_write_text(args.out,
                          json.dumps(metrics, indent=2, default=float) + '\n')
        runner.logger.info(f'metrics written to {osp.abspath(args.out)}')
    return metrics


#: ``test(argv) -> metrics``: the same entry point under its task's name.
test = main
