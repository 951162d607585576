# Copyright (c) pomp_mm contributors. All rights reserved.
"""Classify, segment or detect free-text classes in images: the logic of
``tools/infer.py`` (a thin CLI over :func:`main`, on
:func:`pomp_mm.apis.PompInferencer`).

    python tools/infer.py cls IMAGE_OR_DIR... --texts 'red heart . blue star'
    python tools/infer.py seg scenes/ --texts names.txt --out-dir vis \\
        --model-name ViT-B-16 --clip-checkpoint ViT-B-16.pt --prompt P.pth
    python tools/infer.py det img.png --texts coco --config CFG.py \\
        --weights DET.pth --prompt P.pth --out-dir vis

``--texts`` is ``'a . b . c'``, a names file (one per line) or a built-in
list (``coco``, ``lvis_v1``, ``objects365v2``, ``imagenet``, ...). With no
``--config``, ``--clip-checkpoint`` or ``--weights``, the mini-world's tiny
CLIP and POMP prompt are used (built first if absent, with a progress
message; see :mod:`pomp_mm.benchmarks.miniworld.defaults`). ``--out-dir``
gets a picture per image (``vis/<path relative to its folder>.png``) and
``predictions.json``. Each image's prediction is printed as one line.
"""
import argparse
import os.path as osp
import sys
from typing import Callable, Optional, Sequence

import pomp_mm  # noqa: F401

PROG = 'infer.py'


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument('task', choices=('cls', 'seg', 'det'))
    p.add_argument('inputs', nargs='+', metavar='IMAGE_OR_DIR',
                   help='image files and/or folders (searched recursively)')
    p.add_argument('--texts', required=True,
                   help="class names 'a . b', a names file or a built-in "
                   'list (coco, lvis_v1, objects365v2, imagenet, ...)')
    p.add_argument('--config', help='a pomp_mm config (required for det '
                   'unless the mini-world default is used)')
    p.add_argument('--model-name', help='open_clip model name of the CLIP '
                   'file (e.g. ViT-B-16), when no --config is given')
    p.add_argument('--clip-checkpoint', help='CLIP weights file')
    p.add_argument('--prompt', help='prompt file (official POMP or pomp_mm)')
    p.add_argument('--weights', help='trained detector checkpoint (det)')
    p.add_argument('--out-dir', help='write pictures and predictions.json')
    add_prediction_options(p)
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument('--device', default='cpu')
    return p


def add_prediction_options(p: argparse.ArgumentParser) -> None:
    """The options :func:`inferencer_kwargs` reads besides the model files
    (``--topk``, ``--min-score``, ``--dense-mode``, ``--score-thr``), shared
    with ``tools/web_demo.py``."""
    p.add_argument('--topk', type=int, default=5, help='cls: classes shown '
                   '(default: %(default)s)')
    p.add_argument('--min-score', type=float, default=0.0,
                   help="seg: pixels whose best softmax score is below this "
                   "are 'no class' (default: %(default)s)")
    p.add_argument('--dense-mode', choices=('value', 'cls', 'plain'),
                   default='value', help='seg without --config: dense CLIP '
                   'features (default: %(default)s; the tiny CLIP uses cls)')
    p.add_argument('--score-thr', type=float, default=0.3,
                   help='det: keep boxes scoring at least this '
                   '(default: %(default)s)')


def task_args(args) -> dict:
    return dict(cls=dict(topk=args.topk),
                seg=dict(min_score=args.min_score),
                det=dict(score_thr=args.score_thr))[args.task]


def inferencer_kwargs(args, parser, defaults: Optional[Callable] = None
                      ) -> dict:
    """PompInferencer keyword arguments from the command line (the
    mini-world default files from ``defaults(task)`` when no model is
    given)."""
    for flag in ('config', 'clip_checkpoint', 'prompt', 'weights'):
        path = getattr(args, flag)
        if path is not None and not osp.isfile(path):
            parser.error(f'--{flag.replace("_", "-")} {path}: file not found')
    kwargs = dict(device=args.device, **task_args(args))
    if args.config or args.clip_checkpoint or args.weights:
        if args.task == 'det' and not (args.config and args.weights):
            parser.error('det: give --config and --weights (a detector '
                         'without trained weights predicts random boxes)')
        if not args.config and not args.model_name:
            parser.error('--clip-checkpoint without --config: give '
                         '--model-name (the open_clip name of that CLIP)')
        if args.task == 'seg' and not args.config:
            kwargs['dense_mode'] = args.dense_mode
        return dict(kwargs, model=args.config, model_name=args.model_name,
                    clip_checkpoint=args.clip_checkpoint, prompt=args.prompt,
                    weights=args.weights)
    if defaults is None:
        parser.error('give --config or --model-name and --clip-checkpoint')
    try:
        files = defaults(args.task, prompt=args.prompt)
    except FileNotFoundError as e:
        parser.error(str(e))
    return dict(kwargs, **files)


def describe(task: str, image: str, pred: dict) -> str:
    """One printed line per image."""
    if task == 'cls':
        return f'{image}\t' + ', '.join(
            f'{n} {s:.3f}' for n, s in zip(pred['labels'], pred['scores']))
    if task == 'seg':
        total = sum(pred['present'].values())
        return f'{image}\t' + ', '.join(
            f'{n} {100 * c / total:.1f}%' for n, c in sorted(
                pred['present'].items(), key=lambda kv: -kv[1]))
    return f'{image}\t{len(pred["labels"])} box(es)' + ''.join(
        f'; {n} {s:.3f} [' + ' '.join(f'{v:.1f}' for v in b) + ']'
        for n, s, b in zip(pred['label_names'], pred['scores'],
                           pred['bboxes']))


def main(argv: Optional[Sequence[str]] = None,
         defaults: Optional[Callable] = None) -> dict:
    """Run the CLI; returns the inferencer's result dict.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
        defaults: ``defaults(task, prompt=None) -> kwargs`` giving the
            default model files (``tools/infer.py`` passes
            :func:`pomp_mm.benchmarks.miniworld.defaults.default_files`).
    """
    from pomp_mm.apis import PompInferencer, list_images, read_texts
    from pomp_mm.core.checkpoint import WriteError
    parser = build_parser()
    args = parser.parse_args(argv)
    try:  # bad input is one line, before any model is built
        read_texts(args.texts)
        images = [p for p, _ in list_images(args.inputs)]
    except (ValueError, FileNotFoundError) as e:
        parser.error(str(e))
    kwargs = inferencer_kwargs(args, parser, defaults)
    try:
        inferencer = PompInferencer(args.task, **kwargs)
        result = inferencer(args.inputs, texts=args.texts,
                            batch_size=args.batch_size, out_dir=args.out_dir)
    except (ValueError, FileNotFoundError, WriteError) as e:
        sys.exit(f'{PROG}: error: {e}')
    for image, pred in zip(images, result['predictions']):
        print(describe(args.task, image, pred))
    print(f'{len(images)} image(s), {len(inferencer.names)} class(es)'
          + (f' -> {args.out_dir}' if args.out_dir else ''))
    return result
