"""A 4-run prompt sweep on the mini-world source, online against a feature
cache built once (issue 21, part 3).

The sweep is POMP pre-training on the mini-world source
(``configs/miniworld/pomp_source.py``) over n_ctx 4 / 16 x log base e / 10,
scaled down to ``classes`` source classes (one image each, batch 64, 2 views
of 64 px, K = ``classes // 2``) and ``epochs`` epochs, validation off.

* **online**: the four trainings as they are (data pipeline: render +
  RandomResizedCrop + flip; image tower; text tower; loss; SGD);
* **cached**: ``build_feature_cache`` once (its time counted), then the four
  trainings with ``model.image_feature_cache`` and ``ImageFeatureCacheHook``.

Each configuration's final ctx is compared between the two (an fp32 cache
gives the online features bit for bit, so the difference is expected to be
0; it also checks that the cache built from the n_ctx 4 / log-e config is
valid for the others). All runs are in this process, one after the other,
with the same thread count; times are wall seconds of ``Runner.from_cfg``
plus ``train()``.

    python -m pomp_mm.benchmarks.sweep --sweep [--clip tiny_clip.pt] \\
        [--classes 512] [--epochs 2] [--threads 2]

prints the result dict (the last line is its JSON). Without ``--clip`` (or
when the file is missing) the CLIP is a random ``pomp-mini-vit`` (the
mini-world's architecture): the times are what they are, the prompts
meaningless.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Dict, List, Optional

import torch
from mmengine.config import Config

import pomp_mm  # noqa: F401
import pomp_mm.cls  # noqa: F401  (the model, the cache loop and hook)
from pomp_mm.cls.feature_cache import build_feature_cache
from pomp_mm.core.utils import build_runner

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SOURCE = osp.join(ROOT, 'configs', 'miniworld', 'pomp_source.py')
#: The sweep: (n_ctx, log base).
GRID = [(4, 'e'), (4, 10), (16, 'e'), (16, 10)]
GOAL = 3.0


def sweep_config(n_ctx: int, log_base, work_dir: str, clip: Optional[str],
                 classes: int, epochs: int, seed: int = 0) -> Config:
    """``pomp_source.py`` scaled down for the sweep (see the module)."""
    cfg = Config.fromfile(SOURCE)
    cfg.model.prompt_learner.n_ctx = n_ctx
    cfg.model.loss.log_base = log_base
    cfg.model.loss.num_classes_per_step = max(2, classes // 2)
    cfg.model.prompt_learner.clip = dict(
        type='FrozenCLIP', model_name='pomp-mini-vit', checkpoint=clip,
        allow_random=clip is None)
    cfg.train_dataloader.dataset.max_classes = classes
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler[0]['T_max'] = epochs
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='SafeCheckpointHook',
                                        interval=epochs, overwrite=True,
                                        max_keep_ckpts=1)
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    return cfg


def _run(cfg: Config) -> tuple:
    start = time.perf_counter()
    runner = build_runner(cfg)
    runner.train()
    seconds = time.perf_counter() - start
    return seconds, runner.model.prompt_learner.ctx.detach().clone()


def sweep_benchmark(clip: Optional[str] = None, classes: int = 512,
                    epochs: int = 2, dtype: str = 'fp32',
                    work_dir: Optional[str] = None,
                    threads: Optional[int] = None) -> Dict:
    """Time the 4-run sweep online and from a cache built once.

    Args:
        clip (str, optional): A ``pomp-mini-vit`` weight file (the
            mini-world's tiny CLIP); None: random weights.
        classes (int): Source classes (one image each). Defaults to 512.
        epochs (int): Epochs per run. Defaults to 2.
        dtype (str): Cache precision. Defaults to ``'fp32'`` (exact).
        work_dir (str, optional): Where runs and the cache go (a temp
            folder, removed after, by default).
        threads (int, optional): ``torch.set_num_threads``.

    Returns:
        dict: ``online_s`` (sum of the 4 runs), ``cache_build_s``,
        ``cached_runs_s``, ``cached_total_s`` (build + runs), ``ratio``
        (online / cached total), ``goal`` (>= 3), ``runs`` (per
        configuration: both times and the max |ctx difference|), and the
        settings.
    """
    if threads:
        torch.set_num_threads(threads)
    own = work_dir is None
    work = tempfile.mkdtemp(prefix='pomp_sweep_') if own else work_dir
    try:
        runs: List[dict] = []
        online: Dict[tuple, torch.Tensor] = {}
        for n_ctx, base in GRID:
            cfg = sweep_config(n_ctx, base, osp.join(
                work, f'online_{n_ctx}_{base}'), clip, classes, epochs)
            seconds, ctx = _run(cfg)
            online[(n_ctx, base)] = ctx
            runs.append(dict(n_ctx=n_ctx, log_base=base, online_s=seconds))
        cache = osp.join(work, 'cache')
        start = time.perf_counter()
        manifest = build_feature_cache(
            sweep_config(*GRID[0], osp.join(work, 'build'), clip, classes,
                         epochs), epochs, cache, dtype)
        build_s = time.perf_counter() - start
        for run in runs:
            cfg = sweep_config(run['n_ctx'], run['log_base'], osp.join(
                work, f'cached_{run["n_ctx"]}_{run["log_base"]}'), clip,
                classes, epochs)
            cfg.model.image_feature_cache = cache
            cfg.custom_hooks.append(dict(type='ImageFeatureCacheHook'))
            seconds, ctx = _run(cfg)
            run['cached_s'] = seconds
            run['max_abs_ctx_diff'] = float(
                (ctx - online[(run['n_ctx'], run['log_base'])]).abs().max())
        online_s = sum(r['online_s'] for r in runs)
        cached_runs_s = sum(r['cached_s'] for r in runs)
        total = build_s + cached_runs_s
        return dict(
            online_s=round(online_s, 2), cache_build_s=round(build_s, 2),
            cached_runs_s=round(cached_runs_s, 2),
            cached_total_s=round(total, 2), ratio=round(online_s / total, 2),
            goal=GOAL, goal_met=online_s / total >= GOAL,
            runs=[dict(r, online_s=round(r['online_s'], 2),
                       cached_s=round(r['cached_s'], 2)) for r in runs],
            settings=dict(
                config='configs/miniworld/pomp_source.py', classes=classes,
                images_per_class=1, batch_size=64, views=2,
                iterations_per_run=epochs * -(-classes // 64),
                epochs=epochs, cache_dtype=dtype,
                cache_shape=manifest['shape'],
                clip=osp.basename(clip) if clip else
                'random pomp-mini-vit', threads=torch.get_num_threads()))
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


# -- the (h) section of tools/benchmark.py (pomp_mm.benchmarks.speed) --------
def case_sweep(spec: dict) -> dict:
    """Worker case: :func:`sweep_benchmark` with the spec's settings."""
    clip = spec.get('clip')
    if not clip:
        os.environ.setdefault('POMP_MM_ALLOW_RANDOM_CLIP', '1')
    return sweep_benchmark(clip or None, spec['classes'], spec['epochs'],
                           'fp32', None, spec.get('threads'))


def _sweep_plan(args, add) -> List[dict]:
    clip = args.sweep_clip
    return [add(dict(kind='sweep', clip=clip,
                     classes=64 if args.quick else args.sweep_classes,
                     epochs=1 if args.quick else 2))]


def _sweep_summary(args, pairs, out) -> dict:
    return pairs[0][1]


def _sweep_table(v, out) -> List[str]:
    st = v['settings']
    lines = [f'(h) 4-run prompt sweep (n_ctx 4/16 x log base e/10) on the '
             f'mini-world source, {st["classes"]} classes, '
             f'{st["iterations_per_run"]} iterations per run, CLIP '
             f'{st["clip"]}, {st["threads"]} thread(s): online vs an fp32 '
             'image-feature cache built once',
             f'{"n_ctx":>5} {"log":>4} {"online s":>9} {"cached s":>9} '
             f'{"max|dctx|":>10}']
    for r in v['runs']:
        lines.append(f'{r["n_ctx"]:>5} {r["log_base"]!s:>4} '
                     f'{r["online_s"]:>9.1f} {r["cached_s"]:>9.1f} '
                     f'{r["max_abs_ctx_diff"]:>10.1e}')
    lines.append(f'  sweep: online {v["online_s"]:.1f} s; cache build '
                 f'{v["cache_build_s"]:.1f} s + runs {v["cached_runs_s"]:.1f}'
                 f' s = {v["cached_total_s"]:.1f} s -> {v["ratio"]:.2f}x')
    return lines


def _sweep_goals(v, out) -> dict:
    return dict(sweep_speedup=(v['ratio'], '>=', GOAL))


def main(argv=None) -> Optional[Dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sweep', action='store_true',
                        help='run the sweep benchmark and print it')
    parser.add_argument('--clip', help='pomp-mini-vit weight file (the '
                        'mini-world tiny CLIP); default: random weights')
    parser.add_argument('--classes', type=int, default=512)
    parser.add_argument('--epochs', type=int, default=2)
    parser.add_argument('--dtype', choices=['fp16', 'fp32'], default='fp32')
    parser.add_argument('--threads', type=int)
    parser.add_argument('--work-dir')
    args = parser.parse_args(argv)
    if not args.sweep:
        parser.error('nothing to do; expected --sweep')
    clip = args.clip
    if clip and not osp.isfile(clip):
        parser.error(f'--clip {clip}: no such file; expected a pomp-mini-vit '
                     'weight file (or no --clip for random weights)')
    if clip is None:
        os.environ.setdefault('POMP_MM_ALLOW_RANDOM_CLIP', '1')
    result = sweep_benchmark(clip, args.classes, args.epochs, args.dtype,
                             args.work_dir, args.threads)
    for run in result['runs']:
        print(f'n_ctx {run["n_ctx"]:>2} log base {run["log_base"]!s:>2}: '
              f'online {run["online_s"]:.1f} s, cached {run["cached_s"]:.1f}'
              f' s, max |ctx diff| {run["max_abs_ctx_diff"]:.2e}')
    print(f'sweep of {len(result["runs"])}: online {result["online_s"]:.1f} '
          f's, cache build {result["cache_build_s"]:.1f} s + runs '
          f'{result["cached_runs_s"]:.1f} s = {result["cached_total_s"]:.1f}'
          f' s: {result["ratio"]:.2f}x (goal >= {GOAL:.0f}x)')
    print(json.dumps(result))
    return result


if __name__ == '__main__':
    main()
