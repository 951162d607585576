# Copyright (c) pomp_mm contributors. All rights reserved.
"""Open-vocabulary detection of one image with a free-text vocabulary.

    python tools/det_demo.py IMAGE CONFIG --weights DET.pth \\
        --prompt PROMPT.pth --texts 'headphone . webcam' --out vis.png

``--texts`` is a ``' . '``-separated list of class names, a class-name file
(one per line) or a built-in list (``coco``, ``lvis_v1``, ``objects365v2``,
...). The prompt's text features for these names become the detector's
classifier; the boxes are drawn in a palette colour per class
(:mod:`pomp_mm.apis.visualization`, any vocabulary size, small images
upscaled before the labels) and written (atomically) to ``--out``.
It is ``tools/infer.py det IMAGE --config CONFIG ...`` for one image (both
run :func:`pomp_mm.apis.PompInferencer`). Each detection is also printed as
``name score x1 y1 x2 y2``.

The logic of ``tools/det_demo.py`` (a thin CLI over :func:`main`).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence

import cv2
import mmcv
import numpy as np
from mmengine.config import DictAction

import pomp_mm  # noqa: F401
from pomp_mm.core.checkpoint import atomic_write
from pomp_mm.utils.cli import (CliError, check_checkpoint_file,
                               read_config)

PROG = 'det_demo'


def parse_texts(texts: str) -> List[str]:
    """Class names from ``'a . b . c'``, a names file or a built-in list."""
    from pomp_mm.core.vocabulary import split_dotted
    from pomp_mm.det import BUILTIN_VOCABULARIES, resolve_vocabulary
    if osp.isfile(texts) or texts in BUILTIN_VOCABULARIES:
        return resolve_vocabulary(texts)
    names = split_dotted(texts)
    if not names:
        raise ValueError(f'--texts {texts!r}: no class name; expected e.g. '
                         "'headphone . webcam'")
    return resolve_vocabulary(names)


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog=PROG, description='Detect free-text classes in an image with a '
        'POMP-prompt open-vocabulary detector')
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='a configs/det/*.py config')
    parser.add_argument('--weights', required=True,
                        help='trained detector checkpoint (MMEngine .pth)')
    parser.add_argument('--prompt', help='prompt file loaded into the '
                        'classifier (official POMP or pomp_mm format)')
    parser.add_argument('--texts', required=True,
                        help="class names separated by ' . ', a names file "
                        'or a built-in list (coco, lvis_v1, objects365v2)')
    parser.add_argument('--out', required=True, help='output image (png/jpg)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw boxes scoring at least this '
                        '(default: %(default)s)')
    parser.add_argument('--device', default='cpu',
                        help='torch device (default: %(default)s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, key=value')
    return parser


def main(argv: Optional[Sequence[str]] = None):
    """Run the demo; returns the predicted ``DetDataSample``.

    An alias of ``tools/infer.py det IMAGE --config CONFIG ...`` (the same
    :func:`pomp_mm.apis.PompInferencer`) that writes its one picture to
    ``--out``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag, path in (('image', args.image), ('config', args.config),
                       ('--weights', args.weights),
                       ('--prompt', args.prompt)):
        if path is not None and not osp.isfile(path):
            parser.error(f'{flag} {path}: file not found')
    ext = osp.splitext(args.out)[1].lower()
    if ext not in ('.png', '.jpg', '.jpeg'):
        parser.error(f'--out {args.out}: expected a .png or .jpg file')
    try:
        names = parse_texts(args.texts)
        if args.weights:  # refuse pickled code before mmdet unpickles it
            check_checkpoint_file(args.weights)
        cfg = read_config(args.config)
    except (ValueError, FileNotFoundError, CliError) as e:
        parser.error(str(e))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)

    from pomp_mm.apis import PompInferencer
    from pomp_mm.apis.visualization import draw_detection
    try:
        inferencer = PompInferencer('det', model=cfg, weights=args.weights,
                                    prompt=args.prompt, device=args.device,
                                    score_thr=args.score_thr)
        if not hasattr(inferencer.model, 'classifiers'):
            parser.error(f'config {args.config}: model '
                         f'{type(inferencer.model).__name__} is not a '
                         'PompTwoStageDetector')
        out = inferencer(args.image, texts=names, return_datasamples=True)
    except ValueError as e:
        parser.error(str(e))
    result = out['predictions'][0]
    pred = inferencer.to_dict(result)
    drawn = draw_detection(mmcv.imread(args.image), np.asarray(
        pred['bboxes'], np.float64).reshape(-1, 4), pred['labels'],
        pred['scores'], names)
    ok, buf = cv2.imencode(ext, drawn)
    if not ok:
        sys.exit(f'{PROG}: error: could not encode {args.out}')
    atomic_write(args.out, lambda f: f.write(buf.tobytes()))
    for name, score, box in zip(pred['label_names'], pred['scores'],
                                pred['bboxes']):
        print(f'{name}\t{score:.3f}\t' + ' '.join(f'{v:.1f}' for v in box))
    print(f'{len(pred["labels"])} detection(s) >= {args.score_thr} over '
          f'{len(names)} class(es) -> {args.out}')
    return result
