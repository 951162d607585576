"""Store a training config's image features once, for repeated runs: the
logic of ``tools/cache_image_features.py`` (a thin CLI over :func:`main`).

    python tools/cache_image_features.py CONFIG --epochs 5 --out cache/x
    python tools/cache_image_features.py CONFIG --epochs 5 --dtype fp32 \\
        --cfg-options model.prompt_learner.clip.checkpoint=checkpoints/c.pt

It runs the config's training dataloader (same sampler seed per epoch, same
worker seeds, same augmentation RNG) and the frozen image tower, and writes
one memory-mapped ``.npy`` shard per epoch and a ``manifest.json`` (see
:mod:`pomp_mm.cls.feature_cache`). Train from it with the same config and

    --cfg-options model.image_feature_cache=cache/x

plus ``dict(type='ImageFeatureCacheHook')`` in the config's
``custom_hooks``; a cache that does not match the run is refused with one
line naming the manifest key. ``--out`` defaults to
``work_dirs/<config name>/image_features``.
"""
import argparse
import os.path as osp
import sys

import pomp_mm  # noqa: F401  (torchvision CPU repair, mmengine loading fix)
from pomp_mm.utils.cli import (CliError, add_common_args, enable_amp,
                               load_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Cache the image features of a training config')
    parser.add_argument('config', help='training config file')
    parser.add_argument('--epochs', type=int, required=True,
                        help='epochs to store (runs of up to this many '
                        'epochs can read the cache)')
    parser.add_argument('--out', help='cache folder (default: '
                        'work_dirs/<config name>/image_features)')
    parser.add_argument('--dtype', choices=['fp16', 'fp32'], default='fp16',
                        help='fp16 (half the disk, features rounded to '
                        'fp16) or fp32 (the online features exactly)')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Build the cache; returns its manifest."""
    args = parse_args(argv)
    try:
        cfg = load_config(args)
        if args.amp:  # as tools/train.py --amp: features under autocast
            enable_amp(cfg)
    except CliError as e:
        sys.exit(f'cache_image_features.py: error: {e}')
    if args.launcher != 'none':
        sys.exit('cache_image_features.py: error: --launcher '
                 f'{args.launcher}: the cache is built by one process; '
                 'expected --launcher none')
    import pomp_mm.cls  # noqa: F401  (registers the loop and the hook)
    from pomp_mm.cls.feature_cache import (FeatureCacheMismatch,
                                           build_feature_cache)
    from pomp_mm.utils.cli import run_errors
    out = args.out or osp.join(cfg.work_dir, 'image_features')
    try:
        manifest = build_feature_cache(cfg, args.epochs, out, args.dtype)
    except (ValueError, FeatureCacheMismatch) + run_errors() as e:
        sys.exit(f'cache_image_features.py: error: '
                 f'{str(e).splitlines()[0]}')
    print(f'cache_image_features.py: {out}: {manifest["epochs"]} epochs, '
          f'features {manifest["shape"]} {manifest["dtype"]} per epoch, '
          f'CLIP {manifest["clip_fingerprint"]}, seed {manifest["seed"]}, '
          f'{manifest["build_seconds"]:.1f} s; train with --cfg-options '
          f'model.image_feature_cache={out} (and ImageFeatureCacheHook in '
          'custom_hooks)')
    return manifest
