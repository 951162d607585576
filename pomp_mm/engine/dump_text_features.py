# Copyright (c) pomp_mm contributors. All rights reserved.
"""Dump CLIP text features of a class vocabulary to a ``.npy`` file.

Two modes:

* ``--prompt PROMPT.pth``: the learned POMP/CoOp prompt, i.e. the text
  ``"X X ... X {name}."`` with the placeholders replaced by the prompt's
  context vectors (:class:`pomp_mm.core.PompPromptLearner`). This is how the
  official ``lvis_v1_clip_pomp+cname.npy`` style files are made.
* no ``--prompt``: hand-written template(s), ``"a photo of a {}."`` by
  default. Several ``--template`` options are ensembled as CLIP does
  (:func:`pomp_mm.core.templates.template_features`, open_clip's
  ``build_zero_shot_classifier``): each template's features are
  L2-normalised, averaged, and the mean is normalised again.

The output is a (C, D) array, one row per class in file order, D the CLIP
embedding dimension. With a prompt or one template, rows are NOT
L2-normalised unless ``--normalize`` is given (the official POMP files are
float16 and un-normalised); a template ensemble is always normalised.

Example::

    python tools/dump_text_features.py --model ViT-B-16 \\
        --clip-checkpoint checkpoints/ViT-B-16.pt --prompt prompt.pth \\
        --classes data/metadata/lvis_v1_classnames.txt \\
        --out lvis_v1_clip_pomp+cname.npy --dtype float16

See docs/dump_text_features.md.

The logic of ``tools/dump_text_features.py`` (a thin CLI over :func:`main`).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log

import pomp_mm  # noqa: F401
from pomp_mm.core.checkpoint import atomic_write
from pomp_mm.core import (FrozenCLIP, PompPromptLearner, load_prompt_ctx,
                          read_vocabulary)
from pomp_mm.core.templates import template_features

PROG = 'dump_text_features'
DEFAULT_TEMPLATE = 'a photo of a {}.'
DTYPES = ('float32', 'float16')


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Dump CLIP text features (C x D) of a class vocabulary '
        'to a .npy file, with a learned POMP prompt or hand template(s).')
    parser.add_argument(
        '--model', default='ViT-B-16',
        help='open_clip model config name (default: %(default)s)')
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument(
        '--clip-checkpoint', metavar='PATH',
        help='local CLIP weight file (OpenAI .pt, OpenAI or open_clip '
        'state dict, .safetensors)')
    weights.add_argument(
        '--random-init', action='store_true',
        help='use randomly initialised CLIP weights (seed 0) instead of a '
        'checkpoint; for demos and tests only')
    parser.add_argument(
        '--prompt', metavar='PROMPT.pth',
        help='learned prompt file (official POMP, pomp_mm, ZSSeg or MMEngine '
        'checkpoint); n_ctx is taken from the file. Without it the hand '
        'template(s) are used')
    parser.add_argument(
        '--classes', required=True, metavar='NAMES.txt',
        help='text file with one class name per line (underscores become '
        'spaces)')
    parser.add_argument(
        '--out', required=True, metavar='FEATS.npy',
        help='output .npy file, written atomically')
    parser.add_argument(
        '--template', action='append', metavar='TEXT',
        help='hand template with "{}" for the class name (default: '
        f'"{DEFAULT_TEMPLATE}"); give it several times for CLIP\'s ensemble '
        '(normalised rows). Not allowed with --prompt')
    parser.add_argument(
        '--normalize', action='store_true',
        help='L2-normalise each row (default: raw features, as the official '
        'POMP files)')
    parser.add_argument(
        '--dtype', choices=DTYPES, default='float32',
        help='output dtype (default: %(default)s; the official POMP files '
        'are float16)')
    parser.add_argument(
        '--batch-size', type=int, default=256,
        help='classes per text-tower batch (default: %(default)s)')
    parser.add_argument(
        '--device', default=None,
        help='cpu, cuda or cuda:N (default: cuda if available, else cpu)')
    return parser


# -- checks ------------------------------------------------------------------
def _check_template(template: str) -> str:
    if '{}' not in template:
        raise ValueError(f'--template {template!r} has no "{{}}" where the '
                         'class name goes, e.g. "a photo of a {}."')
    try:
        template.format('x')
    except (IndexError, KeyError, ValueError) as e:
        raise ValueError(f'--template {template!r} is not a valid format '
                         f'string with one "{{}}": {type(e).__name__}: {e}')
    return template


def _check_args(args: argparse.Namespace) -> List[str]:
    """Validate the cheap arguments; return the templates (hand mode)."""
    if not args.out.endswith('.npy'):
        raise ValueError(f'--out {args.out!r} must end with ".npy"')
    if osp.isdir(args.out):
        raise ValueError(f'--out {args.out!r} is a directory')
    if args.batch_size < 1:
        raise ValueError(f'--batch-size {args.batch_size}: expected >= 1')
    if not args.clip_checkpoint and not args.random_init:
        raise ValueError('--clip-checkpoint is required (or --random-init '
                         'for random weights, demos/tests only)')
    if args.prompt is not None:
        if args.template:
            raise ValueError('--template cannot be used with --prompt (the '
                             'prompt replaces the template)')
        return []
    return [_check_template(t) for t in (args.template or [DEFAULT_TEMPLATE])]


def _device(name: Optional[str]) -> torch.device:
    if name is None:
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f'--device {name!r}: {e}') from e
    if device.type not in ('cpu', 'cuda'):
        raise ValueError(f'--device {name!r}: expected cpu, cuda or cuda:N')
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'--device {name!r}: CUDA is not available')
    return device


# -- features ----------------------------------------------------------------
@torch.no_grad()
def prompt_features(clip: FrozenCLIP,
                    names: Sequence[str],
                    prompt: str,
                    batch_size: int = 256,
                    device: Optional[torch.device] = None,
                    progress: bool = True) -> torch.Tensor:
    """Raw (un-normalised) features of a learned prompt, (C, D) float32."""
    ctx = load_prompt_ctx(prompt, width=clip.text_width)
    learner = PompPromptLearner(clip, vocabulary=list(names),
                                prompt_checkpoint=prompt,
                                class_specific=ctx.dim() == 3, freeze=True)
    if device is not None:
        learner.to(device)
    return learner.encode_vocabulary(batch_size=batch_size, normalize=False,
                                     progress=progress).float()


def check_finite(raw: np.ndarray, array: np.ndarray, names: Sequence[str],
                 out: str) -> None:
    """Refuse features holding NaN/Inf (nothing is written then).

    A NaN/Inf prompt or CLIP weight file gives NaN features, and finite
    float32 features beyond 65504 become Inf in ``--dtype float16``; either
    would make every downstream score NaN without an error.

    Args:
        raw (np.ndarray): The (C, D) float32 features as computed.
        array (np.ndarray): The same in the output dtype.
        names (Sequence[str]): The class names, in row order.
        out (str): The ``--out`` path (named in the message).

    Raises:
        ValueError: One line naming the rows, the first class and the fix.
    """
    for features in (raw, array):
        rows = np.flatnonzero(~np.isfinite(features).all(axis=1))
        if len(rows):
            break
    else:
        return
    where = f'{len(rows)} of {len(raw)} rows, first class {names[rows[0]]!r}'
    if features is raw:
        raise ValueError(
            f'the features hold NaN/Inf ({where}); nothing written to {out};'
            ' check the --prompt and --clip-checkpoint files for NaN/Inf '
            'values')
    limit = float(np.finfo(array.dtype).max)
    raise ValueError(
        f'the features overflow {array.dtype} ({where}: values beyond '
        f'{limit:.0f}); nothing written to {out}; use --dtype float32 or '
        '--normalize')


def save_npy_atomic(array: np.ndarray, path: str) -> None:
    """``np.save`` through a temp file, then rename (an existing ``path``
    stays intact until the new file is complete)."""
    atomic_write(path, lambda f: np.save(f, array))  # a handle: no '.npy'


def dump_text_features(args: argparse.Namespace) -> np.ndarray:
    """Compute the features ``args`` asks for, write ``args.out``.

    Args:
        args (argparse.Namespace): Parsed by :func:`build_parser`.

    Returns:
        np.ndarray: The (C, D) array written.

    Raises:
        FileNotFoundError, ValueError: For bad inputs, with a message that
            names the offending file or value.
    """
    templates = _check_args(args)
    device = _device(args.device)
    names = read_vocabulary(args.classes)
    if args.random_init:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            clip = FrozenCLIP(args.model, None, text_only=True,
                              allow_random=True)
    else:
        clip = FrozenCLIP(args.model, args.clip_checkpoint, text_only=True)
    clip.to(device)
    if args.prompt is not None:
        feats = prompt_features(clip, names, args.prompt, args.batch_size,
                                device)
    else:
        # one template: raw, like a prompt's; several: CLIP's ensemble
        feats = template_features(
            clip, names, templates, args.batch_size, device,
            normalize=args.normalize or len(templates) > 1, progress=True)
    if args.normalize:
        feats = F.normalize(feats, dim=-1)
    raw = feats.cpu().numpy()
    with np.errstate(over='ignore'):  # float16 overflow: refused below
        array = raw.astype(args.dtype)
    check_finite(raw, array, names, args.out)
    save_npy_atomic(array, args.out)
    print_log(f'wrote {tuple(array.shape)} {array.dtype} features of '
              f'{len(names)} classes to {args.out}', logger='current')
    return array


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command-line entry point; bad inputs exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        dump_text_features(args)
    except (OSError, ValueError) as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        sys.exit(2)

