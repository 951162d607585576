"""The mini-world benchmark: POMP's transfer, end to end, on 2 CPU cores.

    python tools/miniworld.py                      # ~45 min on 2 cores
    python tools/miniworld.py --no-det             # ~15 min (no detectors)
    python tools/miniworld.py --quick              # smoke run (~1 min)
    python tools/miniworld.py --seeds 0 1 2        # mean ± std of 3 seeds

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
   classes in the test vocabulary (``--no-det`` skips it); with
   ``--det-models faster cascade`` also a 3-stage cascade with a mask head
   per prompt (configs/miniworld/det_ov_cascade.py), box and mask AP50,
   with ``centernet2`` the same cascade on CenterNet2's proposals
   (configs/miniworld/det_ov_centernet2.py), and with ``--det-models faster
   image-labels`` the Faster R-CNN again with image labels of all classes
   (Detic's max-size loss, configs/miniworld/det_ov_image_labels.py),
7. prints the tables and writes them (markdown, JSON) with a bar plot.

Every stage goes through the same MMEngine Runner as tools/train.py and
tools/test.py. Results are deterministic for a seed on one machine.

``--seeds`` repeats steps 2, 3 and 6 (every training) once per training seed
in the same world (``--seed``: the tiny CLIP, the class splits, the scenes
and every test image stay as they are) and reports mean ± sample std (n-1)
per cell, with POMP's gains marked "outside" when the gap of the means
exceeds the sum of the two stds (pomp_mm/benchmarks/miniworld/seeds.py).
Each seed's trainings live in ``WORK_DIR/seed{S}/``; a training is reused only
when its stamp holds the key of its full config (which holds the seed) and of
the files it reads, and every evaluation's result is kept under its key in
``WORK_DIR/results_cache/``, so adding a seed runs only that seed (the keys
and caches are :mod:`pomp_mm.benchmarks.runner`'s, the tables and the plot
:mod:`pomp_mm.benchmarks.report`'s).

``tools/miniworld.py`` is the CLI over :func:`main`.
"""
import argparse
import functools
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional

from mmengine.config import Config

import pomp_mm  # noqa: F401
import pomp_mm.core  # noqa: F401
from pomp_mm.benchmarks.miniworld.seeds import aggregate, check_seeds
from pomp_mm.benchmarks.miniworld.tiny_clip import main as train_clip
from pomp_mm.benchmarks.report import (CASCADE_KEY, CENTERNET2_KEY,
                                       DET_KEY, DETECTION_ROWS,
                                       IMAGE_LABEL_KEY, SEG_KEY)
from pomp_mm.benchmarks.report import MINIWORLD_METHODS as METHODS
from pomp_mm.benchmarks.report import (detection_tables, gains_table,
                                       miniworld_plot, miniworld_table,
                                       seg_table)
from pomp_mm.benchmarks.runner import (cached_result, clear_stamp,
                                       stage_key, stamp_matches,
                                       store_result, test_once, train_once,
                                       write_stamp)
from pomp_mm.core.checkpoint import atomic_write_text, read_json
from pomp_mm.core.prompt import load_prompt
from pomp_mm.core.utils import build_runner, harmonic_mean
from pomp_mm.benchmarks.miniworld import TARGETS
from pomp_mm.benchmarks.miniworld.export import (EXPORT_FORMAT,
                                                 export_image_labels,
                                                 export_scenes)
from pomp_mm.det.datasets import cat_info

#: The repository (the configs live in ``configs/miniworld``).
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CFG = osp.join(ROOT, 'configs', 'miniworld')
METHOD_DIRS = dict(zip(METHODS, ('hand', 'coop', 'pomp')))
CACHE = 'results_cache'  # evaluation results by key, under --work-dir


def _config(name: str, work_dir: str, options: dict,
            log_level: str = 'WARNING') -> Config:
    cfg = Config.fromfile(osp.join(CFG, name))
    cfg.merge_from_dict(options)
    cfg.work_dir = work_dir
    cfg.log_level = log_level
    return cfg


def seed_dir(args, seed: int) -> str:
    """Where the trainings of one training seed live."""
    return osp.join(osp.abspath(args.work_dir), f'seed{seed}')


def _train(name: str, work_dir: str, options: dict, clip: str) -> str:
    """Train a prompt (or reuse the one trained with exactly this config and
    CLIP file) and return its ``prompt_latest.pth``."""
    cfg = _config(name, work_dir, options, log_level='INFO')
    key = stage_key(cfg.pretty_text, {'clip': clip})
    prompt = osp.join(work_dir, 'prompt_latest.pth')

    def train():
        _allow_overwrite(cfg)
        print(f'[miniworld] training {name} (seed {cfg.randomness.seed}) -> '
              f'{work_dir} (log: {work_dir}/<timestamp>/<timestamp>.log)',
              flush=True)
        start = time.time()
        runner = build_runner(cfg)
        runner.train()
        if not osp.isfile(prompt):
            raise RuntimeError(f'training {name} finished without writing '
                               f'{prompt}; expected the prompt file there')
        print(f'[miniworld] {name} done in {time.time() - start:.0f} s',
              flush=True)

    # the prompt is reused only by a run with the same config and CLIP
    _, reused = train_once(work_dir, key, lambda: prompt, train,
                           seed=cfg.randomness.seed)
    if reused:
        print(f'[miniworld] reusing {prompt}', flush=True)
    return prompt


def _allow_overwrite(cfg: Config) -> None:
    """Let a training start over in its own stage folder.

    The tool retrains only when the folder's stamp does not match (or is
    missing), i.e. what is there is stale; ``SafeCheckpointHook`` would
    otherwise refuse a fresh start over its checkpoints. Set after the key
    is taken: it does not change what is computed.
    """
    hook = cfg.get('default_hooks', {}).get('checkpoint') or {}
    if hook.get('type') == 'SafeCheckpointHook':
        hook['overwrite'] = True


def _cache(args) -> str:
    return osp.join(osp.abspath(args.work_dir), CACHE)


def _test(args, options: dict, clip: str, prompt: str = None) -> float:
    """Zero-shot top-1 (%) of a prompt (the hand template for None)."""
    cfg = _config('zeroshot.py', osp.join(osp.abspath(args.work_dir),
                                          'test'), options)
    key = stage_key(cfg.pretty_text, {'clip': clip, 'prompt': prompt})

    def test():
        runner = build_runner(cfg)
        if prompt is not None:
            load_prompt(runner.model, prompt)
        return float(runner.test()['accuracy/top1'])

    return test_once(_cache(args), key, test, prompt=prompt)


def _scene_files(root: str, splits) -> Dict[str, str]:
    """The export's files whose contents key the stages that read it."""
    files = {'classes': osp.join(root, 'classes.json')}
    for split in splits:
        files[split] = osp.join(root, f'instances_{split}.json')
    return files


def segment(args, prompts: Dict[str, str], clip: str, seed: int
            ) -> Dict[str, List[float]]:
    """mIoU-seen / mIoU-unseen / hIoU of each prompt on exported scenes."""
    root = scenes(args)
    rows = {}
    for method in METHODS:
        cfg = Config.fromfile(osp.join(CFG, 'seg_maskclip.py'))
        learner = 'model.text_encoder.prompt_learner.clip.'
        cfg.merge_from_dict({
            learner + 'checkpoint': clip,
            learner + 'model_name': args.clip_model,
            'test_dataloader.dataset.data_root': root,
            'randomness.seed': args.seed})
        cfg.work_dir = osp.join(osp.abspath(args.work_dir), 'seg_test')
        cfg.log_level = 'WARNING'
        key = stage_key(cfg.pretty_text, {
            'clip': clip, 'prompt': prompts[method],
            **_scene_files(root, ['test'])})
        rows[method] = test_once(_cache(args), key, functools.partial(
            _segment, cfg, prompts[method]), prompt=prompts[method])
        print(f'[miniworld] segmentation (prompts of seed {seed}), {method}: '
              'mIoU seen/unseen/hIoU '
              f'{rows[method][0]:.1f}/{rows[method][1]:.1f}/'
              f'{rows[method][2]:.1f}', flush=True)
    return rows


def _segment(cfg: Config, prompt: Optional[str]) -> List[float]:
    """mIoU-seen, mIoU-unseen and hIoU (%) of one prompt (None: the hand
    template)."""
    runner = build_runner(cfg)
    h, w = runner.model.clip.image_size  # windows at CLIP's size
    runner.model.test_cfg.crop_size = (h, w)
    runner.model.test_cfg.stride = (h // 2, w // 2)
    if prompt is not None:
        load_prompt(runner.model, prompt)
    m = runner.test()
    return [float(m['mIoU-seen']), float(m['mIoU-unseen']), float(m['hIoU'])]


def _export_matches(root: str, splits, seed: int) -> bool:
    """True if ``root`` holds these splits, of these sizes, from ``seed``,
    in this release's format (an older export has no instance masks)."""
    meta = read_json(osp.join(root, 'classes.json')) or {}
    if meta.get('seed') != seed or meta.get('format') != EXPORT_FORMAT:
        return False
    return all(
        len((read_json(osp.join(root, f'instances_{split}.json')) or {}).get(
            'images', [])) == num for split, num in splits)


def scenes(args) -> str:
    """The exported scenes of ``--seg-target``: test (segmentation and
    detection) and, with detection on, train.

    Each split has its own seeded stream, so adding the train split later
    leaves the test scenes as they were. The scenes belong to the world
    (``--seed``), not to a training seed.
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


def image_labels(args, scene_root: str) -> str:
    """The image-labelled set of ``--seg-target`` (``--det-image-labels``
    images per class), written again when its size, seed or format differ
    or when its box frequencies are not those of the scenes' train split
    (a new scene export)."""
    root = osp.abspath(osp.join(osp.dirname(osp.abspath(args.scenes)),
                                'image_labels', args.seg_target))
    seen = read_json(osp.join(scene_root, 'classes.json'))['seen']
    meta = read_json(osp.join(root, 'classes.json')) or {}
    fresh = (meta.get('seed') == args.seed
             and meta.get('per_class') == args.det_image_labels
             and meta.get('format') == EXPORT_FORMAT
             and read_json(osp.join(root, 'cat_info_seen.json')) == cat_info(
                 osp.join(scene_root, 'instances_train.json'), seen))
    if not fresh:
        print(f'[miniworld] exporting {args.det_image_labels} image-labelled '
              f'images per class of {args.seg_target} to {root}', flush=True)
        export_image_labels(root, args.seg_target, args.det_image_labels,
                            seed=args.seed, world_seed=args.seed,
                            scene_root=scene_root, overwrite=True)
    return root


#: The cascade + masks entry of DETECTORS, shared by its RPN and CenterNet2
#: variants.
_CASCADE = dict(
    config='det_ov_cascade.py', prefix='detc_',
    learner='model.roi_head.bbox_head.0.cls_predictor_cfg.'
    'prompt_learner.',
    num_classes=[f'model.roi_head.bbox_head.{k}.num_classes'
                 for k in range(3)] + ['model.roi_head.mask_head.'
                                       'num_classes'],
    train_root='train_dataloader.dataset.data_root', vocabulary='seen',
    metrics=['coco/bbox_base_ap50', 'coco/bbox_novel_ap50',
             'coco/segm_base_ap50', 'coco/segm_novel_ap50'],
    key=CASCADE_KEY, title='3-stage cascade + masks')


#: The detectors of ``--det-models``: config, work-dir prefix, where the
#: text side, the class count and the training scenes are set, which
#: classes it is trained to score (``'seen'``, or ``'all'`` with image
#: labels), the metrics read (in the row's column order), the result key
#: and what the table heading says.
DETECTORS = {
    'faster': dict(
        config='det_ov.py', prefix='det_',
        learner='model.roi_head.bbox_head.cls_predictor_cfg.prompt_learner.',
        num_classes=['model.roi_head.bbox_head.num_classes'],
        train_root='train_dataloader.dataset.data_root', vocabulary='seen',
        metrics=['coco/base_ap50', 'coco/novel_ap50'], key=DET_KEY,
        title='Faster R-CNN'),
    'cascade': _CASCADE,
    'centernet2': dict(_CASCADE, config='det_ov_centernet2.py',
                       prefix='detcn_', key=CENTERNET2_KEY,
                       title='CenterNet2 (cascade + masks)'),
    'image-labels': dict(
        config='det_ov_image_labels.py', prefix='deti_',
        learner='model.roi_head.bbox_head.cls_predictor_cfg.prompt_learner.',
        num_classes=['model.roi_head.bbox_head.num_classes'],
        train_root='train_dataloader.dataset.datasets.0.data_root',
        vocabulary='all', image_labels=True,
        metrics=['coco/base_ap50', 'coco/novel_ap50'], key=IMAGE_LABEL_KEY,
        title='Faster R-CNN + image labels'),
}


def detect(args, prompts: Dict[str, str], clip: str, seed: int,
           model: str = 'faster') -> Dict[str, List[float]]:
    """AP50 (%) of one detector trained per prompt with training seed
    ``seed``: base / novel (``model='faster'``), or box base / novel and
    mask base / novel (``'cascade'``)."""
    spec = DETECTORS[model]
    root = scenes(args)
    num_classes = len(read_json(osp.join(root, 'classes.json'))[
        'seen' if spec['vocabulary'] == 'seen' else 'classes'])
    files = _scene_files(root, ['train', 'test'])
    extra = {}
    if spec.get('image_labels'):
        labelled = image_labels(args, root)
        extra = {
            'train_dataloader.dataset.datasets.1.data_root': labelled,
            'model.roi_head.bbox_head.loss_cls.cat_freq_path':
            osp.join(labelled, 'cat_info_seen.json')}
        files.update({f'image_labels_{n}': osp.join(labelled, f'{n}.json')
                      for n in ('classes', 'image_labels', 'cat_info_seen')})
    learner = spec['learner']
    rows = {}
    for method in METHODS:
        work = osp.join(seed_dir(args, seed),
                        spec['prefix'] + METHOD_DIRS[method])
        options = {
            learner + 'clip.checkpoint': clip,
            learner + 'clip.model_name': args.clip_model,
            learner + 'prompt_checkpoint': prompts[method],
            # training vocabulary
            **{key: num_classes for key in spec['num_classes']},
            'randomness.seed': seed,
            'train_cfg.max_epochs': args.det_epochs,
            'default_hooks.checkpoint.interval': args.det_epochs,
            spec['train_root']: root,
            'test_dataloader.dataset.data_root': root,
            'test_evaluator.ann_file': osp.join(root, 'instances_test.json'),
            **extra}
        if args.quick:
            options['train_dataloader.batch_size'] = 4
            if spec.get('image_labels'):  # 4 box + 2 image-labelled
                options['train_dataloader.batch_size'] = 6
                options['train_dataloader.sampler.batch_size'] = 6
        cfg = Config.fromfile(osp.join(CFG, spec['config']))
        cfg.merge_from_dict(options)
        # no validation: MMEngine would run it after the last epoch anyway,
        # and runner.test() below scores the same scenes
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        # the cosine schedule follows --det-epochs
        cfg.param_scheduler[-1].end = args.det_epochs
        cfg.work_dir = work
        cfg.log_level = 'INFO'
        ckpt = osp.join(work, f'epoch_{args.det_epochs}.pth')
        key = stage_key(cfg.pretty_text, {
            'clip': clip, 'prompt': prompts[method], **files})
        rows[method] = cached_result(_cache(args), key)
        if rows[method] is None:
            rows[method] = _train_and_test_detector(
                cfg, key, ckpt, method, seed, spec['metrics'])
            store_result(_cache(args), key, rows[method], seed=seed,
                         prompt=prompts[method])
        print(f'[miniworld] detection, {spec["title"]} (seed {seed}), '
              f'{method}: AP50 ' + ' / '.join(
                  f'{m.split("/")[1]} {v:.1f}'
                  for m, v in zip(spec['metrics'], rows[method])),
              flush=True)
    return rows


def _train_and_test_detector(cfg: Config, key: str, ckpt: str, method: str,
                             seed: int, metrics: List[str]) -> List[float]:
    """Train the detector of ``cfg`` (or load the checkpoint trained with
    this key) and return its AP50s (%) named by ``metrics``."""
    work = cfg.work_dir
    if osp.isfile(ckpt) and stamp_matches(work, key):
        print(f'[miniworld] reusing {ckpt}', flush=True)
        cfg.load_from = ckpt
        runner = build_runner(cfg)
    else:
        clear_stamp(work)
        _allow_overwrite(cfg)
        print(f'[miniworld] training a detector with the {method} '
              f'prompt (seed {seed}) -> {work}', flush=True)
        start = time.time()
        runner = build_runner(cfg)
        runner.train()
        print(f'[miniworld] detector ({method}, seed {seed}) trained in '
              f'{time.time() - start:.0f} s', flush=True)
        # the checkpoint is reused only by a run with the same key
        write_stamp(work, key, seed=seed)
    m = runner.test()
    return [100 * float(m[name]) for name in metrics]


def _clip(args) -> str:
    """The tiny CLIP of the world (``--seed``), trained if missing."""
    clip = osp.abspath(args.clip)
    if not osp.isfile(clip):
        train_clip(['--out', clip, '--model', args.clip_model,
                    '--steps', str(args.clip_steps),
                    '--batch-size', str(args.clip_batch), '--seed',
                    str(args.seed)])
    return clip


def classify(args, clip: str, seed: int):
    """Train POMP and CoOp with training seed ``seed`` and test the three
    prompts on every target.

    Returns:
        tuple: ``(results, prompts)``: target -> method -> [seen, unseen,
        H] top-1 (%), and target -> the three prompt files (None for the
        hand template).
    """
    work = seed_dir(args, seed)
    train = {'model.prompt_learner.clip.checkpoint': clip,
             'model.prompt_learner.clip.model_name': args.clip_model,
             'randomness.seed': seed}
    # evaluation is not training: it runs with the world's seed, so the
    # hand template's cells are the same computation for every seed
    evaluate = dict(train, **{'randomness.seed': args.seed})
    size = {}
    source_classes = args.source_classes or (1500 if args.quick else None)
    if source_classes:
        size = {'train_dataloader.dataset.max_classes': source_classes,
                'val_dataloader.dataset.max_classes':
                min(200, source_classes),
                'model.loss.num_classes_per_step': min(1000, source_classes)}
    pomp = _train('pomp_source.py', osp.join(work, 'pomp'),
                  {**train, **size}, clip)
    results, prompts = {}, {}
    for target in args.targets:
        coop = _train('coop_target.py', osp.join(work, f'coop_{target}'), {
            **train,
            'train_dataloader.dataset.split': target,
            'val_dataloader.dataset.split': target,
            **({'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
                'train_dataloader.dataset.images_per_class': 2,
                'val_dataloader.dataset.images_per_class': 1}
               if args.quick else {}),
        }, clip)
        prompts[target] = dict(zip(METHODS, (None, coop, pomp)))
        rows = {m: [] for m in METHODS}
        for subset in ('seen', 'unseen'):
            opts = {**evaluate, 'test_dataloader.dataset.split': target,
                    'test_dataloader.dataset.subset': subset,
                    'test_dataloader.dataset.images_per_class':
                    args.test_images}
            for m in METHODS:
                rows[m].append(_test(args, opts, clip, prompts[target][m]))
        for m in METHODS:
            rows[m].append(harmonic_mean(*rows[m][:2]))
        results[target] = rows
        print(f'[miniworld] {target} (seed {seed}): ' + ', '.join(
            f'{m}: {v[0]:.1f}/{v[1]:.1f}' for m, v in rows.items()),
            flush=True)
    return results, prompts


def run(args, seeds: List[int] = None
        ) -> Dict[int, Dict[str, Dict[str, List[float]]]]:
    """Every stage for every training seed, stage by stage (classification
    of all seeds first, detection, the slowest, last).

    Returns:
        dict: training seed -> its results (target -> method -> [seen,
        unseen, H], plus ``SEG_KEY`` / ``DET_KEY`` rows when run).
    """
    seeds = seeds or [args.seed]
    clip = _clip(args)
    per_seed, prompts = {}, {}
    for seed in seeds:
        per_seed[seed], prompts[seed] = classify(args, clip, seed)
    if args.seg and args.seg_target in args.targets:
        for seed in seeds:
            per_seed[seed][SEG_KEY] = segment(
                args, prompts[seed][args.seg_target], clip, seed)
    if args.det and args.seg_target in args.targets:
        for model in args.det_models:
            for seed in seeds:
                per_seed[seed][DETECTORS[model]['key']] = detect(
                    args, prompts[seed][args.seg_target], clip, seed, model)
    return per_seed


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='miniworld.py',
                                description=__doc__.splitlines()[0])
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
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the world: the tiny CLIP and the exported '
                   'scenes; also the training seed when --seeds is not given')
    p.add_argument('--seeds', type=int, nargs='+', default=None,
                   metavar='SEED',
                   help='training seeds: POMP, CoOp and the detectors are '
                   'trained once per seed in the same world, and the tables '
                   'report mean ± sample std (n-1) per cell (default: '
                   '--seed alone, printed without spread)')
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
    p.add_argument('--det-models', nargs='+', default=['faster'],
                   choices=list(DETECTORS),
                   help="detectors: 'faster' (Faster R-CNN, box AP50), "
                   "'cascade' (3-stage cascade with a mask head, "
                   'configs/miniworld/det_ov_cascade.py: box and mask AP50), '
                   "'centernet2' (that cascade on a class-agnostic CenterNet "
                   'head, configs/miniworld/det_ov_centernet2.py) '
                   "and/or 'image-labels' (the Faster R-CNN plus image "
                   'labels of all classes, Detic\'s max-size loss, '
                   'configs/miniworld/det_ov_image_labels.py)')
    p.add_argument('--det-image-labels', type=int, default=8, metavar='N',
                   help='image-labelled images per class for '
                   "'image-labels' (default 8; --quick: 1)")
    p.add_argument('--det-train-images', type=int, default=600,
                   help='training scenes for detection')
    p.add_argument('--det-epochs', type=int, default=12,
                   help='training epochs of each detector')
    p.add_argument('--quick', action='store_true',
                   help='small smoke run (fewer source classes/epochs)')
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        seeds = check_seeds(args.seeds or [args.seed])
    except ValueError as e:
        parser.error(str(e))
    if args.quick:
        args.seg_images = min(args.seg_images, 24)
        args.det_train_images = min(args.det_train_images, 16)
        args.det_epochs = min(args.det_epochs, 1)
        args.det_image_labels = min(args.det_image_labels, 1)
        args.scenes = osp.join(args.work_dir, 'scenes')
    os.makedirs(args.work_dir, exist_ok=True)
    per_seed = run(args, seeds)
    if len(seeds) == 1:
        results = per_seed[seeds[0]]
        seed = seeds[0]
        report(args, results, None, f'seed {seed}' if seed == args.seed else
               f'training seed {seed}, world seed {args.seed}')
        return results
    mean, std = aggregate([per_seed[s] for s in seeds])
    report(args, mean, std,
           f'mean ± sample std (n-1) over training seeds '
           f'{", ".join(map(str, seeds))}; world seed {args.seed}')
    results = {'seeds': seeds, 'world_seed': args.seed,
               'std': 'sample standard deviation (n-1) over the seeds',
               'mean': mean, 'sample_std': std,
               'per_seed': {str(s): per_seed[s] for s in seeds}}
    atomic_write_text(osp.join(args.work_dir, 'results.json'),
                      json.dumps(results, indent=2) + '\n')
    return results


def report(args, results: dict, std: Optional[dict], what: str) -> None:
    """Print the tables and write ``results.md``, ``results.png`` and (one
    seed) ``results.json`` under ``--work-dir``.

    Args:
        args: The parsed arguments.
        results (dict): The results of one seed, or the means of several.
        std (dict, optional): The sample stds of several seeds (None: one).
        what (str): What the numbers are, for the headings.
    """
    results = dict(results)
    seg = results.pop(SEG_KEY, None)
    detection = {k: results.pop(k) for k in DETECTION_ROWS if k in results}
    text = miniworld_table(results, std)
    print('\nZero-shot top-1 (%) on the mini-world targets '
          f'({what}):\n' + text, flush=True)
    if seg is not None:
        seg_text = seg_table(seg, None if std is None else std[SEG_KEY])
        print(f'\nZero-shot segmentation of {args.seg_target} scenes (seen '
              '+ unseen classes together, training-free PompMaskCLIP), %:\n'
              + seg_text, flush=True)
        text += (f'\n\nSegmentation ({args.seg_target} scenes):\n\n' +
                 seg_text)
    for heading, says, table in detection_tables(detection, std,
                                                 args.seg_target):
        print(f'\n{says}:\n{table}', flush=True)
        text += f'\n\n{heading}:\n\n{table}'
    if std is not None:
        gains = gains_table(dict(results, **(
            {SEG_KEY: seg} if seg is not None else {}), **detection), std)
        print('\nPOMP\'s gains; "outside" when the gap of the means exceeds '
              'the sum of the two sample stds (seed spread only; the test '
              'images are the same for every seed):\n' + gains, flush=True)
        text = (f'{what}\n\n{text}\n\nPOMP\'s gains (outside: the gap '
                'of the means exceeds the sum of the two sample stds):\n\n'
                + gains)
    miniworld_plot(results, osp.join(args.work_dir, 'results.png'), seg,
                   detection, args.seg_target, std)
    atomic_write_text(osp.join(args.work_dir, 'results.md'), text + '\n')
    if std is None:
        if seg is not None:
            results[SEG_KEY] = seg
        results.update(detection)
        atomic_write_text(osp.join(args.work_dir, 'results.json'),
                          json.dumps(results, indent=2) + '\n')

