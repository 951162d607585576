"""The whole POMP training step, the frozen image tower's precision, and
fast-vs-plain exactness in reduced precision (sections of
``tools/benchmark.py``; each runs as a worker case of
:mod:`pomp_mm.benchmarks.speed`).

* ``kind='e2e'``: one full training step through MMEngine's own
  ``BaseModel.train_step``: the paper config's ``train_pipeline`` on
  generated JPEGs (decode + 4 views of RandomResizedCrop + flip +
  RandAugment), ``default_collate``, the data preprocessor,
  ``PromptCLIPClassifier.loss`` (frozen image tower, prompt learner,
  ``PompLoss`` with K negatives over an N-class vocabulary) and an SGD
  ``OptimWrapper`` update. ``path='official'`` encodes every prompt through
  all 77 tokens (the official code's text path); ``path='default'`` is
  pomp_mm's default (the shared-prefix fast path). The step is split by
  timers around the real modules: data (pipeline + collate +
  preprocessor), image tower, text tower (forward, and backward from the
  moment the gradient reaches the text features, found with a tensor
  hook), loss + optimizer (loss forward and backward, SGD step).
* ``kind='image_precision'``: the frozen image tower alone in fp32 and in
  reduced precision (``FrozenCLIP(image_precision=...)``): time and the
  difference of the features.
* ``kind='exact'``: text features and ``ctx`` gradients of the fast path
  and of the plain (truncated) path in fp16/bf16 weights, both against the
  fp32 77-token reference.

On an accelerator (``device`` other than ``cpu``) times are wall times
with the device synchronised; on CPU they are CPU times of the worker.
"""
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Callable, Dict, List

from . import pipeline as pipe_mod
from .speed import ROOT, imagenet21k_like_names, measure, rel_diff


# -- timing -------------------------------------------------------------------
def _syncer(device) -> Callable[[], None]:
    """A no-op on CPU, else the device's synchronize (no device names)."""
    import torch
    if device.type == 'cpu':
        return lambda: None
    mod = getattr(torch, device.type)
    return lambda: mod.synchronize(device)


def _clock(device) -> Callable[[], float]:
    """CPU time on CPU (the machine may be shared); synced wall time on an
    accelerator, whose kernels run outside this process's CPU time."""
    if device.type == 'cpu':
        return time.process_time
    sync = _syncer(device)

    def clock():
        sync()
        return time.perf_counter()
    return clock


class PhaseTimer:
    """Accumulates the time spent inside wrapped callables, per phase."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.times: Dict[str, float] = {}

    def add(self, phase: str, seconds: float) -> None:
        self.times[phase] = self.times.get(phase, 0.0) + seconds

    def wrap(self, phase: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            t0 = self.clock()
            out = fn(*args, **kwargs)
            self.add(phase, self.clock() - t0)
            return out
        return timed


# -- (e2e) the whole step -----------------------------------------------------
def build_step_model(spec: dict):
    """The model of a step case: the paper's PromptCLIPClassifier."""
    from pomp_mm.cls import PromptCLIPClassifier
    names = imagenet21k_like_names(spec['classes'], spec['seed'])
    import torch
    torch.manual_seed(spec['seed'])  # same random CLIP in every worker
    model = PromptCLIPClassifier(
        prompt_learner=dict(
            type='PompPromptLearner',
            clip=dict(type='FrozenCLIP', model_name=spec['tower'],
                      allow_random=True,
                      image_precision=spec.get('image_precision')),
            n_ctx=spec['n_ctx'], fast_text=spec['path'] != 'official'),
        loss=dict(type='PompLoss', num_classes_per_step=spec['k'], seed=0),
        train_vocabulary=names)
    return model, names


def case_e2e(spec: dict) -> dict:
    """One full POMP training step, split into its phases (worker case).

    Spec keys: ``tower``, ``images``, ``views``, ``k``, ``classes`` (N),
    ``n_ctx``, ``path`` (``'official'`` | ``'default'``),
    ``image_precision`` (None = fp32), ``device``, ``reps``, ``seed``,
    ``save`` (optional: ``ctx`` before and after the first step and its
    gradient go to this file).
    """
    import random

    import numpy as np
    import torch
    from mmengine.dataset import default_collate
    from mmengine.optim import OptimWrapper
    device = torch.device(spec['device'])
    clock = _clock(device)
    random.seed(spec['seed'])  # the augmentations' RNGs: every path sees
    np.random.seed(spec['seed'])  # the same views
    model, names = build_step_model(spec)
    model.to(device).train()
    learner = model.prompt_learner
    learner.set_vocabulary(names)  # tokenize N names before measuring
    crop = model.clip.image_size[0]
    pipeline = pipe_mod.build_pipeline(pipe_mod.paper_train_pipeline(
        ROOT, 'cv2', None if crop == 224 else crop))
    views = len(pipeline.transforms[1].transforms)
    if views != spec['views']:
        raise ValueError(f'{pipe_mod.PAPER_BASE}: {views} views; the step '
                         f'case expects {spec["views"]}')
    optim = OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.002,
        momentum=0.9, weight_decay=5e-4))  # the paper config's optimizer
    timer = PhaseTimer(clock)
    official = spec['path'] == 'official'
    ctx0 = learner.ctx.detach().cpu().clone()
    grads: List = []

    # timers around the real modules; the model's own code runs unchanged
    model.extract_feat = timer.wrap('image', model.extract_feat)
    model.data_preprocessor.forward = timer.wrap(
        'preprocess', model.data_preprocessor.forward)
    model.loss_module.forward = timer.wrap('loss',
                                           model.loss_module.forward)
    learner_forward = learner.forward
    backward_start = {}
    prompts = []

    def text_forward(*args, **kwargs):
        if official:  # the official code: all 77 positions, plain path
            kwargs.update(truncate=False, fast=False)
        t0 = clock()
        out = learner_forward(*args, **kwargs)
        timer.add('text', clock() - t0)
        prompts.append(len(out))

        def reached(grad):  # the loss's backward is done up to here
            backward_start['text'] = clock()
        out.register_hook(reached)
        return out

    learner.forward = text_forward
    optim_backward, optim_step = optim.backward, optim.step

    def backward(loss, **kwargs):
        t0 = clock()
        optim_backward(loss, **kwargs)
        t1 = clock()
        mid = backward_start.pop('text', t1)
        timer.add('loss', mid - t0)  # loss backward
        timer.add('text', t1 - mid)  # text tower backward (to ctx)
        grads.append(learner.ctx.grad.detach().cpu().clone())

    optim.backward = backward
    optim.step = timer.wrap('optimizer', optim_step)

    tmp = tempfile.mkdtemp(prefix='pomp_step_')
    try:
        paths = pipe_mod.write_jpegs(tmp, spec['images'], spec['seed'])
        gen = torch.Generator().manual_seed(spec['seed'] + 5)
        labels = torch.randint(len(names), (len(paths), ),
                               generator=gen).tolist()
        phases: List[Dict[str, float]] = []
        sync = _syncer(device)

        def step():
            timer.times = {}
            t0 = clock()
            batch = default_collate([
                pipeline(dict(img_path=p, gt_label=y))
                for p, y in zip(paths, labels)])
            timer.add('pipeline', clock() - t0)
            t0 = clock()
            model.train_step(batch, optim)
            sync()
            timer.add('step', clock() - t0)
            phases.append(dict(timer.times))
            if spec.get('save') and len(phases) == 1:  # ctx after 1 step
                torch.save(dict(before=ctx0, grad=grads[0],
                                after=learner.ctx.detach().cpu().clone()),
                           spec['save'])

        mod = None if device.type == 'cpu' else getattr(torch, device.type)
        if mod is not None:
            mod.reset_peak_memory_stats(device)
            base = mod.memory_allocated(device)
        res = measure(step, spec['reps'])
        if mod is not None:  # the device's memory, not the host's
            res['peak_mb'] = (mod.max_memory_allocated(device) - base) / 2**20
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = min(phases, key=lambda ph: ph['pipeline'] + ph['step'])
    pre = best.get('preprocess', 0.0)
    out = dict(
        total_s=best['pipeline'] + best['step'],
        data_s=best['pipeline'] + pre,
        model_step_s=best['step'] - pre,
        image_s=best.get('image', 0.0),
        text_s=best.get('text', 0.0),
        loss_opt_s=best.get('loss', 0.0) + best.get('optimizer', 0.0),
        wall_s=res['wall_s'], peak_mb=res['peak_mb'],
        views=len(paths) * views, prompts=prompts[-1])
    out['other_s'] = max(out['model_step_s'] - out['image_s'] -
                         out['text_s'] - out['loss_opt_s'], 0.0)
    return out


# -- (image precision) the frozen image tower alone ---------------------------
def case_image_precision(spec: dict) -> dict:
    """The image tower's forward in one precision (worker case).

    Spec keys: ``tower``, ``batch``, ``precision``, ``device``, ``reps``,
    ``seed``, ``save`` (features file for the comparison, optional).
    """
    import torch

    from pomp_mm.core import FrozenCLIP
    device = torch.device(spec['device'])
    torch.manual_seed(spec['seed'])
    clip = FrozenCLIP(spec['tower'], allow_random=True,
                      image_precision=spec['precision']).to(device)
    images = torch.randn(spec['batch'], 3, *clip.image_size,
                         generator=torch.Generator().manual_seed(4)).to(device)
    clock, out = _clock(device), {}
    times = []

    def step():
        t0 = clock()
        with torch.no_grad():
            out['feats'] = clip.encode_image(images).float()
        times.append(clock() - t0)

    res = measure(step, spec['reps'])
    if spec.get('save'):
        torch.save(out['feats'].cpu(), spec['save'])
    return dict(time_s=min(times), per_image_ms=1e3 * min(times) /
                spec['batch'], peak_mb=res['peak_mb'])


# -- (exact) fast vs plain in reduced precision -------------------------------
def case_exact(spec: dict) -> dict:
    """Fast and plain text paths in fp16/bf16 against fp32 77 tokens.

    Spec keys: ``tower``, ``prompts``, ``n_ctx``, ``precisions``,
    ``device``, ``seed``.

    Returns, per precision, the max difference (relative to the max value)
    of the features and of the ``ctx`` gradients of each path to the fp32
    77-token reference.
    """
    import torch

    from pomp_mm.core import FrozenCLIP, PompPromptLearner
    device = torch.device(spec['device'])
    names = imagenet21k_like_names(spec['prompts'], spec['seed'])

    def run(precision, **kwargs):
        torch.manual_seed(spec['seed'])
        clip = FrozenCLIP(spec['tower'], text_only=True, allow_random=True,
                          precision=precision)
        torch.manual_seed(spec['seed'] + 1)
        learner = PompPromptLearner(clip, names, n_ctx=spec['n_ctx'])
        learner.to(device)
        learner.ctx.data = learner.ctx.data.float()  # trained in fp32
        feats = learner(torch.arange(len(names), device=device), **kwargs)
        w = torch.randn(feats.shape, generator=torch.Generator()
                        .manual_seed(2)).to(device)
        (feats.float() * w).sum().backward()
        return feats.detach().float().cpu(), learner.ctx.grad.float().cpu()

    ref_f, ref_g = run('fp32', truncate=False, fast=False)
    out = {}
    for precision in spec['precisions']:
        row = {}
        for path, kwargs in (('fast', dict(fast=True)),
                             ('plain', dict(fast=False))):
            f, g = run(precision, **kwargs)
            row[f'{path}_feat_diff'] = rel_diff(f, ref_f)
            row[f'{path}_grad_diff'] = rel_diff(g, ref_g)
        fast = max(row['fast_feat_diff'], row['fast_grad_diff'])
        plain = max(row['plain_feat_diff'], row['plain_grad_diff'])
        # the fast path rounds the same products, with an fp32 residual
        # stream: it must be no farther from fp32 than the plain path is
        # in the same precision (2x: another order of the same roundings)
        row['fast_within_plain'] = bool(fast <= 2 * plain)
        out[precision] = row
    fp32_f, fp32_g = run('fp32', fast=True)
    out['fp32'] = dict(fast_feat_diff=rel_diff(fp32_f, ref_f),
                       fast_grad_diff=rel_diff(fp32_g, ref_g))
    return out


# -- sections of tools/benchmark.py -------------------------------------------
def _accelerated(args) -> bool:
    return str(getattr(args, 'device', 'cpu')).split(':')[0] != 'cpu'


def _e2e_plan(args, add) -> List[dict]:
    quick = args.quick
    base = dict(kind='e2e', tower='pomp-test-vit' if quick else
                args.e2e_tower, images=2 if quick else args.step_images,
                views=4, k=20 if quick else args.step_k,
                classes=200 if quick else args.step_classes, n_ctx=16,
                device=args.device, reps=args.reps)
    variants = [('official', None), ('default', None)] + [
        ('default', p) for p in args.e2e_image_precision]
    return [add(dict(base, path=path, image_precision=prec))
            for path, prec in variants]


def _e2e_summary(args, pairs, out) -> dict:
    rows = [dict(path=s['path'], image_precision=s['image_precision'] or
                 'fp32', **r) for s, r in pairs]
    spec = pairs[0][0]
    off, dflt = rows[0], rows[1]
    return dict(
        tower=spec['tower'], images=spec['images'], views=spec['views'],
        k=spec['k'], classes=spec['classes'], device=spec['device'],
        scale=spec['images'] / 32, k_scale=spec['k'] / 1000, rows=rows,
        speedup=off['model_step_s'] / dflt['model_step_s'],
        speedup_with_data=off['total_s'] / dflt['total_s'],
        text_speedup=off['text_s'] / max(dflt['text_s'], 1e-9),
        image_share=dflt['image_s'] / dflt['model_step_s'])


def _e2e_table(v, out) -> List[str]:
    unit = 'step cpu' if v['device'] == 'cpu' else 'step s'
    shape = (f'{v["images"]} images x {v["views"]} views, K={v["k"]}, '
             f'N={v["classes"]}')
    note = '' if (v['images'], v['k']) == (32, 1000) else (
        f' (paper per-GPU shape 32 x 4, K=1000, scaled by '
        f'{v["scale"]:g} in images and {v["k_scale"]:g} in K: every '
        'phase is linear in views or prompts, so the ratios hold)')
    lines = [f'(d) one full POMP training step, {v["tower"]}, {shape}, '
             f'SGD, {v["device"]}{note}',
             f'{"path":<9} {"image":<5} {unit:>8} {"data":>8} {"img twr":>8} '
             f'{"text":>8} {"loss+opt":>8} {"other":>7} {"prompts":>7} '
             f'{"peak MB":>8}']
    for r in v['rows']:
        lines.append(
            f'{r["path"]:<9} {r["image_precision"]:<5} '
            f'{r["model_step_s"]:>8.3f} {r["data_s"]:>8.3f} '
            f'{r["image_s"]:>8.3f} {r["text_s"]:>8.3f} '
            f'{r["loss_opt_s"]:>8.3f} {r["other_s"]:>7.3f} '
            f'{r["prompts"]:>7} {r["peak_mb"]:>8.1f}')
    lines.append(
        '  step = the model\'s train_step (data preprocessor excluded); '
        'data = pipeline + collate + preprocessor, in the step\'s process')
    lines.append(
        f'  official (77 tokens, fp32) / default: {v["speedup"]:.2f}x per '
        f'step (data in workers), {v["speedup_with_data"]:.2f}x with the '
        f'data loaded in the step\'s process; text tower '
        f'{v["text_speedup"]:.1f}x; the image tower is '
        f'{100 * v["image_share"]:.0f}% of the default step')
    for r in v['rows'][2:]:
        lines.append(f'  default with a {r["image_precision"]} image tower: '
                     f'{v["rows"][1]["model_step_s"] / r["model_step_s"]:.2f}'
                     'x the fp32 default step')
    return lines


def _e2e_goals(v, out) -> dict:
    return dict(e2e_step_speedup=(v['speedup'], '>=', 2))


def _precision_plan(args, add) -> List[dict]:
    tmp = args.tmp
    base = dict(kind='image_precision',
                tower='pomp-test-vit' if args.quick else args.e2e_tower,
                batch=2 if args.quick else args.image_batch,
                device=args.device, reps=args.reps)
    return [add(dict(base, precision=p, save=osp.join(tmp, f'img_{p}.pt')))
            for p in ['fp32'] + list(args.image_precision)]


def _precision_summary(args, pairs, out) -> dict:
    import torch
    from pomp_mm.core.checkpoint import safe_torch_load
    ref = safe_torch_load(pairs[0][0]['save'])
    rows = []
    for s, r in pairs:
        feats = safe_torch_load(s['save'])
        os.remove(s['save'])
        rows.append(dict(precision=s['precision'], **r,
                         feat_diff=rel_diff(feats, ref),
                         speedup=pairs[0][1]['time_s'] / r['time_s']))
    spec = pairs[0][0]
    return dict(tower=spec['tower'], batch=spec['batch'],
                device=spec['device'], rows=rows)


def _precision_table(v, out) -> List[str]:
    lines = [f'(e) frozen image tower alone, {v["tower"]}, {v["batch"]} '
             f'images, {v["device"]} (FrozenCLIP image_precision; LayerNorm '
             'fp32)']
    for r in v['rows']:
        lines.append(f'  {r["precision"]:<5} {r["per_image_ms"]:>9.2f} '
                     f'ms/image  {r["speedup"]:>5.2f}x fp32  feature diff '
                     f'{r["feat_diff"]:.1e}')
    return lines


def _precision_goals(v, out) -> dict:
    acc = getattr(out.get('_args'), 'bf16_accuracy_delta', None)
    return dict(bf16_acc_delta=(acc, '<=', 0.3))


def _pipeline_plan(args, add) -> List[dict]:
    return [add(dict(kind='pipeline', images=4 if args.quick else
                     args.pipeline_images, views=4, reps=max(args.reps, 1),
                     root=ROOT, crop=None))]


def _pipeline_summary(args, pairs, out) -> dict:
    spec, res = pairs[0]
    v = dict(res)
    best = max(v['backends'], key=lambda b: v['backends'][b]['views_per_s'])
    v['fastest'] = best
    rate = v['backends'][best]['views_per_s']
    per_step = 32 * 4  # the paper's per-GPU views
    e2e = out.get('e2e')
    workers = {}
    if e2e:  # the measured default step's rate of consumption
        d = e2e['rows'][1]
        consumed = d['views'] / d['model_step_s']
        workers['measured'] = dict(
            device=e2e['device'], views_per_s=consumed,
            step_s_at_128_views=per_step / consumed,
            workers=pipe_mod.workers_needed(per_step, per_step / consumed,
                                            rate))
    workers['assumed'] = [dict(step_s=t, workers=pipe_mod.workers_needed(
        per_step, t, rate)) for t in pipe_mod.ASSUMED_GPU_STEP_S]
    v['workers'] = workers
    return v


def _pipeline_table(v, out) -> List[str]:
    lines = [f'(f) data pipeline (paper train_pipeline: decode + '
             f'{v["views"]} x [RandomResizedCrop 224 + flip + RandAugment '
             f'n=2]), 1 worker = 1 process, 1 thread; {v["images"]} '
             f'generated JPEGs, mean {v["mean_size"][0]}x'
             f'{v["mean_size"][1]}, {v["mean_kb"]:.0f} KB, q90']
    for b, r in v['backends'].items():
        lines.append(f'  {b:<9} decode {r["decode_ms"]:6.2f} ms/image, '
                     f'pipeline {r["pipeline_ms"]:6.2f} ms/image = '
                     f'{r["views_per_s"]:6.0f} views/s per worker (decoded '
                     f'pixels vs cv2: max diff {r["max_pixel_diff_vs_cv2"]})')
    rd = v['reduced_decode']
    lines.append(
        f'  file check (PIL header) {v["file_check_ms"]:.2f} ms/image: once '
        f'per sample and run now; every read before: '
        f'{v["views_per_s_check_every_read"]:.0f} views/s with cv2')
    lines.append(
        f'  cv2 1/2-size decode {rd["half_ms"]:.2f} ms vs full '
        f'{rd["full_ms"]:.2f} ms, but not the same picture (max pixel diff '
        f'{rd["max_pixel_diff"]} vs full decode + area resize): not used')
    w = v['workers']
    if 'measured' in w:
        m = w['measured']
        lines.append(
            f'  workers for 32 x 4 views per step: {m["workers"]} at the '
            f'measured default step on {m["device"]} '
            f'({m["step_s_at_128_views"]:.2f} s per 128 views)')
    lines.append('  assumed GPU step times (not measured): ' + ', '.join(
        f'{a["step_s"]:g} s -> {a["workers"]} workers'
        for a in w['assumed']) + f' ({v["fastest"]} backend)')
    return lines


def _pipeline_goals(v, out) -> dict:
    return {}


def _exact_plan(args, add) -> List[dict]:
    precisions = ['fp16', 'bf16'] if _accelerated(args) else ['bf16']
    return [add(dict(kind='exact', tower='pomp-test-vit' if args.quick
                     else args.text_tower, prompts=16 if args.quick
                     else args.exact_prompts, n_ctx=16,
                     precisions=precisions, device=args.device))]


def _exact_summary(args, pairs, out) -> dict:
    spec, res = pairs[0]
    return dict(tower=spec['tower'], prompts=spec['prompts'],
                device=spec['device'], **res)


def _exact_table(v, out) -> List[str]:
    lines = [f'(g) fast vs plain text path in reduced precision, '
             f'{v["tower"]}, {v["prompts"]} prompts, {v["device"]}: max '
             'diff to the fp32 77-token path (features / ctx grad)',
             f'  fp32 fast: {v["fp32"]["fast_feat_diff"]:.1e} / '
             f'{v["fp32"]["fast_grad_diff"]:.1e}']
    for p, r in v.items():
        if isinstance(r, dict) and 'plain_feat_diff' in r:
            lines.append(
                f'  {p}: fast {r["fast_feat_diff"]:.1e} / '
                f'{r["fast_grad_diff"]:.1e}, plain {r["plain_feat_diff"]:.1e}'
                f' / {r["plain_grad_diff"]:.1e} -> fast '
                f'{"within" if r["fast_within_plain"] else "NOT within"} 2x '
                'plain')
    return lines


def _exact_goals(v, out) -> dict:
    worst = max(max(r['fast_feat_diff'], r['fast_grad_diff']) /
                max(r['plain_feat_diff'], r['plain_grad_diff'], 1e-30)
                for r in v.values()
                if isinstance(r, dict) and 'plain_feat_diff' in r)
    return dict(lowp_fast_ratio=(worst, '<=', 2),
                exact_fast_fp32=(max(v['fp32'].values()), '<=', 1e-5))
