"""The mini-world benchmark: POMP's transfer, end to end, on 2 CPU cores.

    python tools/miniworld.py                      # ~45 min on 2 cores
    python tools/miniworld.py --no-det             # ~15 min (no detectors)
    python tools/miniworld.py --quick              # smoke run (~1 min)

1. trains the tiny CLIP on generated image-caption pairs
   (tools/train_tiny_clip.py; skipped when the checkpoint exists),
2. pre-trains a prompt with POMP on the 16,589-class source vocabulary
   (configs/miniworld/pomp_source.py),
3. trains CoOp on each target's seen classes
   (configs/miniworld/coop_target.py),
4. tests the hand template "a photo of a {}.", CoOp and POMP zero-shot on the
   seen and unseen classes of every target (configs/miniworld/zeroshot.py),
5. segments mini-world scenes of the mixed200 target with the same three
   prompts (training-free PompMaskCLIP, configs/miniworld/seg_maskclip.py)
   and reports mIoU-seen / mIoU-unseen / hIoU (``--no-seg`` skips it),
6. trains one open-vocabulary detector per prompt on the seen-class boxes of
   mixed200 scenes (mmdet Faster R-CNN + Detic-style PompBBoxHead, the
   prompt's text features as the frozen classifier,
   configs/miniworld/det_ov.py) and reports base / novel AP50 with all
   classes in the test vocabulary (``--no-det`` skips it),
7. prints the tables and writes them (markdown, JSON) with a bar plot.

Every stage goes through the same MMEngine Runner as tools/train.py and
tools/test.py. Results are deterministic for a seed.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List

from mmengine.config import Config
from mmengine.runner import Runner

import pomp_mm  # noqa: F401
import pomp_mm.core  # noqa: F401
from pomp_mm.core.checkpoint import (atomic_write, atomic_write_text,
                                     read_json)
from pomp_mm.core.prompt import load_prompt_into
from pomp_mm.miniworld import TARGETS
from pomp_mm.miniworld.export import export_scenes

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = osp.join(ROOT, 'configs', 'miniworld')
METHODS = ('hand template', 'CoOp (target seen, 8 shots)', 'POMP (source)')
SEG_KEY = 'segmentation'
DET_KEY = 'detection'
METHOD_DIRS = dict(zip(METHODS, ('hand', 'coop', 'pomp')))


def _config(name: str, work_dir: str, options: dict,
            log_level: str = 'WARNING') -> Config:
    cfg = Config.fromfile(osp.join(CFG, name))
    cfg.merge_from_dict(options)
    cfg.work_dir = work_dir
    cfg.log_level = log_level
    return cfg


def _train(name: str, work_dir: str, options: dict) -> str:
    prompt = osp.join(work_dir, 'prompt_latest.pth')
    if osp.isfile(prompt):
        print(f'[miniworld] reusing {prompt}', flush=True)
        return prompt
    cfg = _config(name, work_dir, options, log_level='INFO')
    print(f'[miniworld] training {name} -> {work_dir} (log: '
          f'{work_dir}/<timestamp>/<timestamp>.log)', flush=True)
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    print(f'[miniworld] {name} done in {time.time() - start:.0f} s',
          flush=True)
    return prompt


def _test(work_dir: str, options: dict, prompt: str = None) -> float:
    runner = Runner.from_cfg(_config('zeroshot.py', work_dir, options))
    if prompt is not None:
        load_prompt_into(runner.model, prompt)
    return float(runner.test()['accuracy/top1'])


def segment(args, prompts: Dict[str, str], common: dict
            ) -> Dict[str, List[float]]:
    """mIoU-seen / mIoU-unseen / hIoU of each prompt on exported scenes."""
    root = scenes(args)
    rows = {}
    for method in METHODS:
        cfg = Config.fromfile(osp.join(CFG, 'seg_maskclip.py'))
        learner = 'model.text_encoder.prompt_learner.clip.'
        cfg.merge_from_dict({
            learner + 'checkpoint': common[
                'model.prompt_learner.clip.checkpoint'],
            learner + 'model_name': common[
                'model.prompt_learner.clip.model_name'],
            'test_dataloader.dataset.data_root': root,
            'randomness.seed': args.seed})
        cfg.work_dir = osp.join(osp.abspath(args.work_dir), 'seg_test')
        cfg.log_level = 'WARNING'
        runner = Runner.from_cfg(cfg)
        h, w = runner.model.clip.image_size  # windows at CLIP's input size
        runner.model.test_cfg.crop_size = (h, w)
        runner.model.test_cfg.stride = (h // 2, w // 2)
        if prompts[method] is not None:
            load_prompt_into(runner.model, prompts[method])
        m = runner.test()
        rows[method] = [float(m['mIoU-seen']), float(m['mIoU-unseen']),
                        float(m['hIoU'])]
        print(f'[miniworld] segmentation, {method}: mIoU seen/unseen/hIoU '
              f'{rows[method][0]:.1f}/{rows[method][1]:.1f}/'
              f'{rows[method][2]:.1f}', flush=True)
    return rows


def _export_matches(root: str, splits, seed: int) -> bool:
    """True if ``root`` holds these splits, of these sizes, from ``seed``."""
    if (read_json(osp.join(root, 'classes.json')) or {}).get('seed') != seed:
        return False
    return all(
        len((read_json(osp.join(root, f'instances_{split}.json')) or {}).get(
            'images', [])) == num for split, num in splits)


def scenes(args) -> str:
    """The exported scenes of ``--seg-target``: test (segmentation and
    detection) and, with detection on, train.

    Each split has its own seeded stream, so adding the train split later
    leaves the test scenes as they were.
    """
    root = osp.abspath(osp.join(args.scenes, args.seg_target))
    splits = [('test', args.seg_images)]
    if args.det:
        splits.insert(0, ('train', args.det_train_images))
    if not _export_matches(root, splits, args.seed):
        print('[miniworld] exporting ' + ' + '.join(
            f'{n} {split}' for split, n in splits) +
            f' {args.seg_target} scenes to {root}', flush=True)
        export_scenes(root, args.seg_target, splits, seed=args.seed,
                      overwrite=True)
    return root


def detect(args, prompts: Dict[str, str], common: dict
           ) -> Dict[str, List[float]]:
    """Base / novel AP50 (%) of one detector trained per prompt."""
    root = scenes(args)
    num_seen = len(read_json(osp.join(root, 'classes.json'))['seen'])
    head = 'model.roi_head.bbox_head.'
    learner = head + 'cls_predictor_cfg.prompt_learner.'
    rows = {}
    for method in METHODS:
        work = osp.join(osp.abspath(args.work_dir), 'det_' +
                        METHOD_DIRS[method])
        options = {
            learner + 'clip.checkpoint':
            common['model.prompt_learner.clip.checkpoint'],
            learner + 'clip.model_name':
            common['model.prompt_learner.clip.model_name'],
            learner + 'prompt_checkpoint': prompts[method],
            head + 'num_classes': num_seen,  # training vocabulary
            'randomness.seed': args.seed,
            'train_cfg.max_epochs': args.det_epochs,
            'default_hooks.checkpoint.interval': args.det_epochs,
            'train_dataloader.dataset.data_root': root,
            'test_dataloader.dataset.data_root': root,
            'test_evaluator.ann_file': osp.join(root, 'instances_test.json')}
        if args.quick:
            options['train_dataloader.batch_size'] = 4
        cfg = Config.fromfile(osp.join(CFG, 'det_ov.py'))
        cfg.merge_from_dict(options)
        # no validation: MMEngine would run it after the last epoch anyway,
        # and runner.test() below scores the same scenes
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        # the cosine schedule follows --det-epochs
        cfg.param_scheduler[-1].end = args.det_epochs
        cfg.work_dir = work
        cfg.log_level = 'INFO'
        ckpt = osp.join(work, f'epoch_{args.det_epochs}.pth')
        stamp = osp.join(work, 'miniworld_det.json')
        key = hashlib.sha1(cfg.pretty_text.encode()).hexdigest()
        if osp.isfile(ckpt) and (read_json(stamp) or {}).get('config') == key:
            print(f'[miniworld] reusing {ckpt}', flush=True)
            cfg.load_from = ckpt
            runner = Runner.from_cfg(cfg)
        else:
            print(f'[miniworld] training a detector with the {method} '
                  f'prompt -> {work}', flush=True)
            start = time.time()
            runner = Runner.from_cfg(cfg)
            runner.train()
            print(f'[miniworld] detector ({method}) trained in '
                  f'{time.time() - start:.0f} s', flush=True)
            # the checkpoint is reused only by a run with the same config
            atomic_write_text(stamp, json.dumps({'config': key}) + '\n')
        m = runner.test()
        rows[method] = [100 * float(m['coco/base_ap50']),
                        100 * float(m['coco/novel_ap50'])]
        print(f'[miniworld] detection, {method}: AP50 base/novel '
              f'{rows[method][0]:.1f}/{rows[method][1]:.1f}', flush=True)
    return rows


def rows_table(rows: Dict[str, List[float]], columns: List[str]) -> str:
    """A markdown table: one row per method, one cell per value (%)."""
    lines = ['| method | ' + ' | '.join(columns) + ' |',
             '|---|' + '---|' * len(columns)]
    for m, v in rows.items():
        lines.append(f'| {m} | ' + ' | '.join(f'{x:.1f}' for x in v) +
                     ' |')
    return '\n'.join(lines)


def seg_table(rows: Dict[str, List[float]]) -> str:
    return rows_table(rows, ['mIoU seen', 'mIoU unseen', 'hIoU'])


def det_table(rows: Dict[str, List[float]]) -> str:
    return rows_table(rows, ['AP50 base (seen)', 'AP50 novel (unseen)'])


def harmonic(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a + b > 0 else 0.0


def run(args) -> Dict[str, Dict[str, List[float]]]:
    clip = osp.abspath(args.clip)
    if not osp.isfile(clip):
        from train_tiny_clip import main as train_clip
        train_clip(['--out', clip, '--model', args.clip_model,
                    '--steps', str(args.clip_steps),
                    '--batch-size', str(args.clip_batch), '--seed',
                    str(args.seed)])
    work = osp.abspath(args.work_dir)
    common = {'model.prompt_learner.clip.checkpoint': clip,
              'model.prompt_learner.clip.model_name': args.clip_model,
              'randomness.seed': args.seed}
    size = {}
    source_classes = args.source_classes or (1500 if args.quick else None)
    if source_classes:
        size = {'train_dataloader.dataset.max_classes': source_classes,
                'val_dataloader.dataset.max_classes':
                min(200, source_classes),
                'model.loss.num_classes_per_step': min(1000, source_classes)}
    pomp = _train('pomp_source.py', osp.join(work, 'pomp'),
                  {**common, **size})
    results = {}
    coops = {}
    for target in args.targets:
        coop = _train('coop_target.py', osp.join(work, f'coop_{target}'), {
            **common,
            'train_dataloader.dataset.split': target,
            'val_dataloader.dataset.split': target,
            **({'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
                'train_dataloader.dataset.images_per_class': 2,
                'val_dataloader.dataset.images_per_class': 1}
               if args.quick else {}),
        })
        coops[target] = coop
        rows = {m: [] for m in METHODS}
        for subset in ('seen', 'unseen'):
            opts = {**common, 'test_dataloader.dataset.split': target,
                    'test_dataloader.dataset.subset': subset,
                    'test_dataloader.dataset.images_per_class':
                    args.test_images}
            wd = osp.join(work, 'test')
            rows[METHODS[0]].append(_test(wd, opts))
            rows[METHODS[1]].append(_test(wd, opts, coop))
            rows[METHODS[2]].append(_test(wd, opts, pomp))
        for m in METHODS:
            rows[m].append(harmonic(*rows[m][:2]))
        results[target] = rows
        print(f'[miniworld] {target}: ' + ', '.join(
            f'{m}: {v[0]:.1f}/{v[1]:.1f}' for m, v in rows.items()),
            flush=True)
    if args.seg and args.seg_target in coops:
        results[SEG_KEY] = segment(
            args, dict(zip(METHODS, (None, coops[args.seg_target], pomp))),
            common)
    if args.det and args.seg_target in coops:
        results[DET_KEY] = detect(
            args, dict(zip(METHODS, (None, coops[args.seg_target], pomp))),
            common)
    return results


def table(results: Dict[str, Dict[str, List[float]]]) -> str:
    targets = list(results)
    head = '| method | ' + ' | '.join(
        f'{t} seen | {t} unseen | {t} H' for t in targets) + ' |'
    lines = [head, '|' + '---|' * (1 + 3 * len(targets))]
    for m in METHODS:
        cells = [f'{v:.1f}' for t in targets for v in results[t][m]]
        lines.append(f'| {m} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot(results, path: str, seg: Dict[str, List[float]] = None,
         det: Dict[str, List[float]] = None,
         scenes_of: str = 'mixed200') -> None:
    """Bars per method: top-1 on each target's seen and unseen classes,
    then (when run) segmentation mIoU and detection AP50."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    targets = list(results)
    panels = [(targets, [[results[t][m][0] for t in targets] for m in
                         METHODS], 'top-1, seen classes',
               'top-1 accuracy (%)'),
              (targets, [[results[t][m][1] for t in targets] for m in
                         METHODS], 'top-1, unseen classes', None)]
    if seg is not None:
        panels.append((['seen', 'unseen'], [seg[m][:2] for m in METHODS],
                       f'segmentation ({scenes_of} scenes)', 'mIoU (%)'))
    if det is not None:
        panels.append((['base', 'novel'], [det[m][:2] for m in METHODS],
                       f'detection ({scenes_of} scenes)', 'AP50 (%)'))
    widths = [len(p[0]) + 1 for p in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels) + 2,
                                                      3.6),
                             gridspec_kw=dict(width_ratios=widths))
    for ax, (ticks, values, title, ylabel) in zip(axes, panels):
        x = np.arange(len(ticks))
        for i, m in enumerate(METHODS):
            ax.bar(x + (i - 1) * 0.27, values[i], 0.27, label=m)
        ax.set_xticks(x, ticks, fontsize=8)
        ax.set_title(title)
        if ylabel:
            ax.set_ylabel(ylabel)
    axes[1].sharey(axes[0])
    axes[1].tick_params(labelleft=False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc='lower center', ncol=len(METHODS),
               fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    atomic_write(path, lambda f: fig.savefig(f, format='png', dpi=110))
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default='work_dirs/miniworld')
    p.add_argument('--clip', default='data/miniworld/tiny_clip.pt',
                   help='tiny CLIP checkpoint (trained if missing)')
    p.add_argument('--clip-model', default='pomp-mini-vit',
                   help='open_clip config of the tiny CLIP')
    p.add_argument('--clip-steps', type=int, default=400)
    p.add_argument('--source-classes', type=int, default=None,
                   help='use only this many source classes (default: all)')
    p.add_argument('--clip-batch', type=int, default=256)
    p.add_argument('--targets', nargs='+', default=list(TARGETS),
                   choices=list(TARGETS))
    p.add_argument('--test-images', type=int, default=10,
                   help='test images per class')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--no-seg', dest='seg', action='store_false',
                   help='skip the segmentation row')
    p.add_argument('--scenes', default='data/miniworld/scenes',
                   help='where the segmentation scenes are exported')
    p.add_argument('--seg-target', default='mixed200', choices=list(TARGETS),
                   help='target whose scenes are segmented (must be one of '
                   '--targets)')
    p.add_argument('--seg-images', type=int, default=300,
                   help='test scenes for segmentation')
    p.add_argument('--no-det', dest='det', action='store_false',
                   help='skip the detection row (3 detectors, ~25 min)')
    p.add_argument('--det-train-images', type=int, default=600,
                   help='training scenes for detection')
    p.add_argument('--det-epochs', type=int, default=12,
                   help='training epochs of each detector')
    p.add_argument('--quick', action='store_true',
                   help='small smoke run (fewer source classes/epochs)')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.quick:
        args.seg_images = min(args.seg_images, 24)
        args.det_train_images = min(args.det_train_images, 16)
        args.det_epochs = min(args.det_epochs, 1)
        args.scenes = osp.join(args.work_dir, 'scenes')
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    os.makedirs(args.work_dir, exist_ok=True)
    results = run(args)
    seg = results.pop(SEG_KEY, None)
    det = results.pop(DET_KEY, None)
    text = table(results)
    print('\nZero-shot top-1 (%) on the mini-world targets '
          f'(seed {args.seed}):\n' + text, flush=True)
    if seg is not None:
        seg_text = seg_table(seg)
        print(f'\nZero-shot segmentation of {args.seg_target} scenes (seen '
              '+ unseen classes together, training-free PompMaskCLIP), %:\n'
              + seg_text, flush=True)
        text += (f'\n\nSegmentation ({args.seg_target} scenes):\n\n' +
                 seg_text)
    if det is not None:
        det_text = det_table(det)
        print(f'\nOpen-vocabulary detection on {args.seg_target} scenes '
              '(Faster R-CNN trained on the seen-class boxes with each '
              'prompt as its classifier; all classes at test), %:\n'
              + det_text, flush=True)
        text += (f'\n\nDetection ({args.seg_target} scenes):\n\n' +
                 det_text)
    plot(results, osp.join(args.work_dir, 'results.png'), seg, det,
         args.seg_target)
    if seg is not None:
        results[SEG_KEY] = seg
    if det is not None:
        results[DET_KEY] = det
    atomic_write_text(osp.join(args.work_dir, 'results.md'), text + '\n')
    atomic_write_text(osp.join(args.work_dir, 'results.json'),
                      json.dumps(results, indent=2) + '\n')
    return results


if __name__ == '__main__':
    main()
