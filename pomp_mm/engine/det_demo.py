# Copyright (c) pomp_mm contributors. All rights reserved.
"""Open-vocabulary detection of one image with a free-text vocabulary.

    python tools/det_demo.py IMAGE CONFIG --weights DET.pth \\
        --prompt PROMPT.pth --texts 'headphone . webcam' --out vis.png

``--texts`` is a ``' . '``-separated list of class names, a class-name file
(one per line) or a built-in list (``coco``, ``lvis_v1``, ``objects365v2``,
...). The prompt's text features for these names become the detector's
classifier; the boxes are drawn with mmdet's ``DetLocalVisualizer`` and
written (atomically) to ``--out``. Each detection is also printed as
``name score x1 y1 x2 y2``.

The logic of ``tools/det_demo.py`` (a thin CLI over :func:`main`).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence

import cv2
import mmcv
from mmengine.config import DictAction

import pomp_mm  # noqa: F401
from pomp_mm.core.checkpoint import atomic_write
from pomp_mm.core.prompt import load_prompt
from pomp_mm.utils.cli import (CliError, check_checkpoint_file,
                               read_config)

PROG = 'det_demo'


def parse_texts(texts: str) -> List[str]:
    """Class names from ``'a . b . c'``, a names file or a built-in list."""
    from pomp_mm.det import BUILTIN_VOCABULARIES, resolve_vocabulary
    if osp.isfile(texts) or texts in BUILTIN_VOCABULARIES:
        return resolve_vocabulary(texts)
    names = [t.strip() for t in texts.split(' . ')]
    names = [n[:-1].strip() if n.endswith('.') else n for n in names]
    names = [n for n in names if n]
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
    parser.add_argument('--weights', help='trained detector checkpoint '
                        '(MMEngine .pth); without it the weights are random')
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
    """Run the demo; returns the predicted ``DetDataSample``."""
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

    from mmdet.apis import inference_detector, init_detector
    from mmdet.registry import VISUALIZERS
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = init_detector(cfg, checkpoint=args.weights, device=args.device)
    if not hasattr(model, 'classifiers'):
        parser.error(f'config {args.config}: model {type(model).__name__} is '
                     'not a PompTwoStageDetector')
    if args.prompt:
        try:
            load_prompt(model, args.prompt, log=False)
        except ValueError as e:
            parser.error(str(e))
    model.set_vocabulary(names, 'test', force=True)

    result = inference_detector(model, args.image)
    image = mmcv.imconvert(mmcv.imread(args.image), 'bgr', 'rgb')
    visualizer = VISUALIZERS.build(cfg.visualizer)
    visualizer.dataset_meta = dict(classes=names, palette='random')
    visualizer.add_datasample('demo', image, data_sample=result,
                              draw_gt=False, show=False,
                              pred_score_thr=args.score_thr)
    drawn = mmcv.imconvert(visualizer.get_image(), 'rgb', 'bgr')
    ok, buf = cv2.imencode(ext, drawn)
    if not ok:
        sys.exit(f'{PROG}: error: could not encode {args.out}')
    atomic_write(args.out, lambda f: f.write(buf.tobytes()))
    pred = result.pred_instances
    keep = pred.scores >= args.score_thr
    for name, score, box in zip(
            [n for n, k in zip(pred.label_names, keep.tolist()) if k],
            pred.scores[keep].tolist(), pred.bboxes[keep].tolist()):
        print(f'{name}\t{score:.3f}\t' + ' '.join(f'{v:.1f}' for v in box))
    print(f'{int(keep.sum())} detection(s) >= {args.score_thr} over '
          f'{len(names)} class(es) -> {args.out}')
    return result

