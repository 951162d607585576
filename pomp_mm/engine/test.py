"""Test any pomp_mm config with a prompt file or a full checkpoint: the
logic of ``tools/test.py`` (a thin CLI over :func:`main`, which returns the
metrics).

    python tools/test.py CONFIG work_dirs/pretrain/prompt_latest.pth
    python tools/test.py CONFIG work_dirs/x/epoch_5.pth      # MMEngine ckpt
    python tools/test.py CONFIG                              # config as is
    python tools/test.py CONFIG PROMPT --cfg-options \
        test_dataloader.dataset.data_root=data/target

    python tools/test.py DET_CONFIG work_dirs/det/epoch_12.pth \
        --prompt work_dirs/pretrain/prompt_latest.pth       # detector + prompt
    python tools/test.py CONFIG PROMPT --out preds.pkl --out-metrics m.json

A prompt file (``{'state_dict': {'ctx': ...}}``, official or pomp_mm) is
loaded into every prompt learner of the model, whatever the task; any other
checkpoint goes to MMEngine's ``load_from``. ``--prompt`` gives the prompt
beside a checkpoint and wins over a ctx stored in it. A detection config
tested without a trained detector checkpoint is an error (its RPN and RoI
heads would be untrained: AP 0). ``--out`` dumps the predictions
(OpenMMLab's meaning); ``--out-metrics`` writes the metrics JSON.
"""
import argparse
import json
import os.path as osp
import sys

import pomp_mm  # noqa: F401
from pomp_mm.core.checkpoint import CheckpointMismatchError, atomic_write_text
from pomp_mm.compat.mmengine import is_mmdet_detector
from pomp_mm.core.prompt import load_prompt
from pomp_mm.core.utils import build_runner, unwrap_model
from pomp_mm.utils.cli import (CliError, add_common_args,
                               check_checkpoint_file, check_output_file,
                               finish_distributed, init_cpu_distributed,
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
    parser.add_argument('--prompt', metavar='PROMPT.pth',
                        help='a prompt file for every prompt learner of the '
                        'model, replacing any configured one; with a '
                        'checkpoint (e.g. a trained detector) the prompt '
                        'wins over a ctx the checkpoint holds')
    parser.add_argument('--out', metavar='FILE.pkl',
                        help='dump the predictions to this pickle '
                        "(OpenMMLab's --out, mmengine's DumpResults); a "
                        '.json name writes the metrics (deprecated: use '
                        '--out-metrics)')
    parser.add_argument('--out-metrics', metavar='FILE.json',
                        help='also write the metrics to this JSON')
    parser.add_argument('--show-dir', metavar='DIR',
                        help='write a picture of every test prediction '
                        '(cls, seg, det) to DIR/<image path>.png '
                        '(pomp_mm.apis.PompShowHook)')
    add_common_args(parser)
    args = parser.parse_args(argv)
    if args.out and args.out.endswith('.json'):
        if args.out_metrics:
            parser.error(f'--out {args.out} (metrics JSON, deprecated) and '
                         f'--out-metrics {args.out_metrics}: give one')
        print('test.py: --out FILE.json is deprecated; it writes the metrics'
              ' as --out-metrics does (--out FILE.pkl dumps predictions)',
              file=sys.stderr)
        args.out_metrics, args.out = args.out, None
        args.out_metrics_flag = '--out'  # messages name the flag typed
    if args.out and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out {args.out!r}: expected a .pkl or .pickle file '
                     '(the predictions), or --out-metrics FILE.json for the '
                     'metrics')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.out:  # before any work, not after the whole test
        try:
            check_output_file(args.out)
        except CliError as e:
            sys.exit(f'test.py: error: {e}')
    if args.out_metrics:
        try:
            check_output_file(args.out_metrics,
                              getattr(args, 'out_metrics_flag',
                                      '--out-metrics'))
        except CliError as e:
            sys.exit(f'test.py: error: {e}')
    prompt = None
    try:
        cfg = load_config(args)
        if args.prompt:
            if not prompt_only_file(args.prompt):
                raise CliError(f'--prompt {args.prompt!r} is not a prompt '
                               'file (it holds more than a prompt ctx); '
                               'expected a prompt file such as '
                               'work_dirs/x/prompt_latest.pth (a full '
                               'checkpoint goes in the CHECKPOINT position)')
            prompt = args.prompt
        if args.checkpoint:
            if prompt_only_file(args.checkpoint):
                if prompt is not None:
                    raise CliError(
                        f'{args.checkpoint!r} and --prompt {prompt!r} are '
                        'both prompt files; expected one prompt, and a full '
                        'checkpoint (e.g. a trained detector) as CHECKPOINT')
                prompt = args.checkpoint
            else:
                cfg.load_from = args.checkpoint
        if prompt is not None:
            # the CLI prompt replaces any configured one: don't read it
            drop_prompt_checkpoints(cfg.model)
        if cfg.get('load_from') and '://' not in cfg.load_from:
            check_checkpoint_file(cfg.load_from)  # before any work
        if args.show_dir:  # the inferencer's pictures, any vocabulary size
            from pomp_mm.apis.hooks import show_hook_cfg
            cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
                show_hook_cfg(args.show_dir)]
    except CliError as e:
        sys.exit(f'test.py: error: {e}')
    if args.amp:
        cfg.test_cfg = cfg.get('test_cfg') or {}
        cfg.test_cfg.fp16 = True
    init_cpu_distributed(cfg)
    try:
        runner = build_runner(cfg)
    except run_errors() as e:  # e.g. a CLIP without weights: one line
        sys.exit(f'test.py: error: {str(e).splitlines()[0]}')
    model = unwrap_model(runner.model)
    if is_mmdet_detector(model) and not cfg.get('load_from'):
        given = f'the prompt file {prompt!r} alone' if prompt else \
            'no checkpoint'
        sys.exit(f'test.py: error: {given} for the detector '
                 f'{type(model).__name__}, whose own weights would stay '
                 'untrained (AP 0); expected a trained detector checkpoint: '
                 'tools/test.py CONFIG DET.pth --prompt PROMPT.pth')
    if prompt is not None:
        try:
            names = load_prompt(runner.model, prompt, log=False)
        except (ValueError, FileNotFoundError) as e:
            sys.exit(f'test.py: error: {e}')
        runner.logger.info(f'loaded prompt {prompt} into {len(names)} '
                           f'learner(s): {", ".join(names) or "the model"}')
    try:  # load_from now, before the test: a misfit is one line
        runner.load_or_resume()
    except CheckpointMismatchError as e:
        sys.exit(f'test.py: error: {cfg.load_from}: {e}')
    if prompt is not None and cfg.get('load_from'):
        # the prompt wins over a trainable ctx the checkpoint held (a
        # frozen prompt learner ignores a stored ctx by itself)
        load_prompt(runner.model, prompt, log=False)
    if args.out:  # as the stock tools do (mmdet: DumpDetResults)
        if is_mmdet_detector(model):
            from mmdet.evaluation import DumpDetResults as DumpResults
        else:
            from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    try:
        metrics = runner.test()
    except run_errors() as e:
        sys.exit(f'test.py: error: {str(e).splitlines()[0]}')
    if args.out:
        runner.logger.info(f'predictions written to {osp.abspath(args.out)}')
    if args.out_metrics:
        atomic_write_text(args.out_metrics,
                          json.dumps(metrics, indent=2, default=float) + '\n')
        runner.logger.info(
            f'metrics written to {osp.abspath(args.out_metrics)}')
    finish_distributed(cfg)
    return metrics


#: ``test(argv) -> metrics``: the same entry point under its task's name.
test = main
