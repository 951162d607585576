"""The mini-world benchmark: POMP's transfer, end to end, on 2 CPU cores.

    python tools/miniworld.py                      # ~15 min on 2 cores
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
6. prints the tables and writes them (markdown, JSON) with a bar plot.

Every stage goes through the same MMEngine Runner as tools/train.py and
tools/test.py. Results are deterministic for a seed.
"""
import argparse
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
from pomp_mm.core.checkpoint import atomic_write, atomic_write_text
from pomp_mm.core.prompt import load_prompt_into
from pomp_mm.miniworld import TARGETS
from pomp_mm.miniworld.export import export_scenes

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = osp.join(ROOT, 'configs', 'miniworld')
METHODS = ('hand template', 'CoOp (target seen, 8 shots)', 'POMP (source)')
SEG_KEY = 'segmentation'


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
    target = args.seg_target
    root = osp.abspath(osp.join(args.scenes, target))
    if not osp.isfile(osp.join(root, 'classes.json')):
        print(f'[miniworld] exporting {args.seg_images} {target} scenes to '
              f'{root}', flush=True)
        export_scenes(root, target, [('test', args.seg_images)],
                      seed=args.seed)
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


def seg_table(rows: Dict[str, List[float]]) -> str:
    lines = ['| method | mIoU seen | mIoU unseen | hIoU |',
             '|---|---|---|---|']
    for m, v in rows.items():
        lines.append(f'| {m} | ' + ' | '.join(f'{x:.1f}' for x in v) +
                     ' |')
    return '\n'.join(lines)


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


def plot(results, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    targets = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, k, title in ((axes[0], 0, 'seen classes'),
                         (axes[1], 1, 'unseen classes')):
        x = np.arange(len(targets))
        for i, m in enumerate(METHODS):
            ax.bar(x + (i - 1) * 0.27, [results[t][m][k] for t in targets],
                   0.27, label=m)
        ax.set_xticks(x, targets)
        ax.set_title(title)
    axes[0].set_ylabel('top-1 accuracy (%)')
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
    p.add_argument('--quick', action='store_true',
                   help='small smoke run (fewer source classes/epochs)')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.quick:
        args.seg_images = min(args.seg_images, 24)
        args.scenes = osp.join(args.work_dir, 'scenes')
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    os.makedirs(args.work_dir, exist_ok=True)
    results = run(args)
    seg = results.pop(SEG_KEY, None)
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
    plot(results, osp.join(args.work_dir, 'results.png'))
    if seg is not None:
        results[SEG_KEY] = seg
    atomic_write_text(osp.join(args.work_dir, 'results.md'), text + '\n')
    atomic_write_text(osp.join(args.work_dir, 'results.json'),
                      json.dumps(results, indent=2) + '\n')
    return results


if __name__ == '__main__':
    main()
