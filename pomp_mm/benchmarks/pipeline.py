"""Data pipeline throughput of POMP's ImageNet-21K training pipeline.

The pipeline is the paper config's own ``train_pipeline``
(``configs/_base_/pomp_in21k_vit-b16.py``): ``LoadImageFromFile`` (decode),
then four views of ``RandomResizedCrop(224, 0.08-1, bicubic)`` +
``RandomFlip`` + ``RandAugment(n=2)`` (Dassl's 14 ops), then
``PackInputs``. It runs on generated JPEGs of ImageNet's size distribution
(:func:`write_jpegs`: smooth pictures with texture, 400x300 .. 560x420,
quality 90), one process and one thread per measurement: the rate of one
DataLoader worker.

Measured, per decode backend of ``LoadImageFromFile`` (``cv2``,
``pillow``, ``turbojpeg`` when importable):

* decode alone and the whole pipeline, in views per second per worker;
* the file check of :class:`~pomp_mm.cls.datasets.folder.ImageFileChecks`
  (a PIL header read): once per sample *per read* before the structure
  issue, once per sample *per run* now; its cost is timed on the same files;
* reduced-size decoding (``cv2.IMREAD_REDUCED_COLOR_2``): its speed and how
  far its crops are from the full decode's. It is not used: a
  DCT-domain 1/2 decode is not the same picture as the full decode, so the
  views would change.

:func:`workers_needed` turns a step time into the number of workers that
keep a step fed. It is a section of ``tools/benchmark.py``
(:mod:`pomp_mm.benchmarks.speed`), run in a worker process as
``kind='pipeline'``.
"""
import math
import os
import os.path as osp
import tempfile
import time
from typing import Dict, List, Optional

import numpy as np

#: ImageNet's size distribution, roughly: the width and height of the
#: generated JPEGs are drawn uniformly from these ranges (mean 480 x 360;
#: ImageNet-1K train averages about 470 x 390).
JPEG_WIDTHS = (400, 560)
JPEG_ASPECT = (0.70, 0.80)
JPEG_QUALITY = 90
#: The paper config that holds the training pipeline.
PAPER_BASE = osp.join('configs', '_base_', 'pomp_in21k_vit-b16.py')


def write_jpegs(folder: str, num: int, seed: int = 0) -> List[str]:
    """Write ``num`` JPEGs of ImageNet-like sizes and content to ``folder``.

    Content: a smooth colour field with a few filled shapes and mild noise,
    so JPEG sizes and decode times are those of photographs (about 60-110
    KB at 480 x 360, quality 90), not of flat images or pure noise.

    Args:
        folder (str): Output folder (created).
        num (int): How many files.
        seed (int): RNG seed. Defaults to 0.

    Returns:
        list[str]: The file paths.
    """
    import cv2
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(num):
        w = int(rng.integers(*JPEG_WIDTHS))
        h = int(w * rng.uniform(*JPEG_ASPECT))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.empty((h, w, 3), np.float32)
        for c in range(3):
            fx, fy = rng.uniform(0.5, 4, 2).tolist()
            ph = rng.uniform(0, 6.28)
            img[..., c] = 128 + 90 * np.sin(xx / w * fx * 6.28 + ph) * \
                np.cos(yy / h * fy * 6.28)
        for _ in range(int(rng.integers(3, 8))):
            centre = (int(rng.integers(w)), int(rng.integers(h)))
            radius = int(rng.integers(10, min(w, h) // 3))
            colour = rng.integers(0, 256, 3).tolist()
            cv2.circle(img, centre, radius, colour, -1)
        img += rng.normal(0, 12, img.shape).astype(np.float32)
        img = np.clip(cv2.GaussianBlur(img, (3, 3), 0), 0, 255)
        path = osp.join(folder, f'img_{i:04d}.JPEG')
        ok, buf = cv2.imencode('.jpg', img.astype(np.uint8),
                               [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f'cv2 could not encode {path}')
        with open(path, 'wb') as f:
            f.write(buf.tobytes())
        paths.append(path)
    return paths


def backends() -> List[str]:
    """The ``LoadImageFromFile`` decode backends usable here."""
    out = ['cv2', 'pillow']
    try:
        import turbojpeg  # noqa: F401
        out.append('turbojpeg')
    except ImportError:
        pass
    return out


def paper_train_pipeline(root: str, backend: str = 'cv2',
                         crop: Optional[int] = None) -> list:
    """The paper config's ``train_pipeline`` with a decode backend.

    Args:
        root (str): The repository (holds ``configs/``).
        backend (str): ``imdecode_backend`` of ``LoadImageFromFile``.
        crop (int, optional): Replace the 224 crop (tiny towers). Defaults
            to None (the config's).

    Returns:
        list[dict]: Transform configs.
    """
    import copy

    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(root, PAPER_BASE))
    pipeline = copy.deepcopy(cfg.train_pipeline)
    load = pipeline[0]
    if load['type'] != 'LoadImageFromFile':
        raise ValueError(f'{PAPER_BASE}: train_pipeline[0] is '
                         f'{load["type"]}; expected LoadImageFromFile')
    load['imdecode_backend'] = backend
    if crop is not None:
        for t in pipeline[1]['transforms'][0]:
            if t['type'] == 'RandomResizedCrop':
                t['scale'] = crop
    return pipeline


def build_pipeline(cfg: list):
    """An mmpretrain ``Compose`` of transform configs."""
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    import mmpretrain.datasets  # noqa: F401 (registers the transforms)
    return Compose(cfg)


def _timed(fn, items, clock) -> float:
    t0 = clock()
    for x in items:
        fn(x)
    return clock() - t0


def case_pipeline(spec: dict) -> dict:
    """Views per second of one worker, per decode backend (worker case).

    Spec keys: ``images`` (files), ``views`` (4), ``reps`` (passes over the
    files after a warm-up; the best is kept), ``seed``, ``crop`` (None for
    the config's 224), ``root`` (repository).
    """
    import cv2
    import mmcv

    from pomp_mm.cls.datasets.folder import inspect_image
    cv2.setNumThreads(0)  # one DataLoader worker: one thread (mp_cfg)
    clock = time.process_time
    tmp = tempfile.mkdtemp(prefix='pomp_jpegs_')
    try:
        paths = write_jpegs(tmp, spec['images'], spec['seed'])
        sizes = [osp.getsize(p) for p in paths]
        out = dict(images=len(paths), views=spec['views'],
                   mean_kb=sum(sizes) / len(sizes) / 1024, backends={})
        shapes = [cv2.imread(p).shape[:2] for p in paths]
        out['mean_size'] = [round(sum(s[1] for s in shapes) / len(shapes)),
                            round(sum(s[0] for s in shapes) / len(shapes))]
        reps = max(spec['reps'], 1)
        ref = None
        for backend in backends():
            pipe = build_pipeline(paper_train_pipeline(
                spec['root'], backend, spec.get('crop')))
            if pipe.transforms[1].transforms[0].transforms[0].__class__ \
                    .__name__ != 'RandomResizedCrop' or \
                    len(pipe.transforms[1].transforms) != spec['views']:
                raise ValueError(f'{PAPER_BASE}: expected {spec["views"]} '
                                 'views of RandomResizedCrop ...')

            def decode(p, backend=backend):
                with open(p, 'rb') as f:
                    return mmcv.imfrombytes(f.read(), flag='color',
                                            backend=backend)

            def sample(p, pipe=pipe):
                return pipe(dict(img_path=p, gt_label=0))

            imgs = [decode(p) for p in paths]  # warm-up and equality
            if ref is None:
                ref = imgs
            same = max(int(np.abs(a.astype(np.int16) - b).max())
                       for a, b in zip(imgs, ref))
            sample(paths[0])
            dec = min(_timed(decode, paths, clock) for _ in range(reps))
            full = min(_timed(sample, paths, clock) for _ in range(reps))
            n = len(paths)
            out['backends'][backend] = dict(
                decode_ms=1e3 * dec / n, pipeline_ms=1e3 * full / n,
                views_per_s=spec['views'] * n / full,
                max_pixel_diff_vs_cv2=same)
        check = min(_timed(inspect_image, paths, clock) for _ in range(reps))
        out['file_check_ms'] = 1e3 * check / len(paths)
        base = out['backends']['cv2']
        out['views_per_s_check_every_read'] = spec['views'] * len(paths) / (
            (base['pipeline_ms'] + out['file_check_ms']) * len(paths) / 1e3)
        out['reduced_decode'] = reduced_decode(paths, reps, clock)
    finally:
        for f in os.listdir(tmp):
            os.remove(osp.join(tmp, f))
        os.rmdir(tmp)
    return out


def reduced_decode(paths: List[str], reps: int, clock) -> Dict[str, float]:
    """cv2's 1/2-size decode against a full decode + INTER_AREA 1/2 resize.

    Returns the decode times per image and the max / mean absolute pixel
    difference of the two half-size pictures (0 would make it usable).
    """
    import cv2
    datas = []
    for p in paths:
        with open(p, 'rb') as f:
            datas.append(np.frombuffer(f.read(), np.uint8))

    def full(d):
        return cv2.imdecode(d, cv2.IMREAD_COLOR)

    def half(d):
        return cv2.imdecode(d, cv2.IMREAD_REDUCED_COLOR_2)

    t_full = min(_timed(full, datas, clock) for _ in range(reps))
    t_half = min(_timed(half, datas, clock) for _ in range(reps))
    diffs = []
    for d in datas:
        a = half(d)
        b = cv2.resize(full(d), (a.shape[1], a.shape[0]),
                       interpolation=cv2.INTER_AREA)
        diffs.append(np.abs(a.astype(np.int16) - b))
    return dict(full_ms=1e3 * t_full / len(datas),
                half_ms=1e3 * t_half / len(datas),
                max_pixel_diff=int(max(d.max() for d in diffs)),
                mean_pixel_diff=float(np.mean([d.mean() for d in diffs])))


def workers_needed(views_per_step: int, step_s: float,
                   views_per_s_per_worker: float) -> int:
    """DataLoader workers that produce a step's views within one step.

    ``ceil(views_per_step / (step_s * rate))``: with that many workers the
    loader makes a batch at least as fast as the model consumes one, so
    (with prefetching) data never starves the step.

    Args:
        views_per_step (int): Views per step (e.g. 32 images x 4 views).
        step_s (float): Compute time of one step (> 0).
        views_per_s_per_worker (float): One worker's rate (> 0).

    Returns:
        int: Workers (>= 1).
    """
    if step_s <= 0 or views_per_s_per_worker <= 0:
        raise ValueError(f'workers_needed: step_s {step_s} and rate '
                         f'{views_per_s_per_worker} must be > 0')
    return max(1, math.ceil(views_per_step /
                            (step_s * views_per_s_per_worker)))


#: Step times (seconds) the workers table is computed for when no step of
#: that device was measured: assumptions, labelled as such.
ASSUMED_GPU_STEP_S = (0.1, 0.25, 0.5, 1.0)


def write_in21k_tree(root: str, classes: int = 64, per_class: int = 4,
                     val_per_class: int = 2, seed: int = 0) -> str:
    """A small ImageNet-21K tree in MIIL's layout, of generated JPEGs.

    ``<root>/imagenet21k_{train,val}/<wnid>/*.JPEG`` and
    ``imagenet21k_miil_tree.pth`` (``class_description``, names from
    :func:`~pomp_mm.benchmarks.speed.imagenet21k_like_names`): what the
    paper config reads, for a short run of it (``tools/gpu_check.sh``).

    Args:
        root (str): Output folder (created; must not hold a tree already).
        classes (int): Class folders. Defaults to 64.
        per_class (int): Train images per class. Defaults to 4.
        val_per_class (int): Val images per class. Defaults to 2.
        seed (int): RNG seed. Defaults to 0.

    Returns:
        str: ``root``.
    """
    import io

    import torch

    from pomp_mm.core.checkpoint import atomic_write
    from .speed import imagenet21k_like_names
    tree = osp.join(root, 'imagenet21k_miil_tree.pth')
    if osp.exists(tree):
        raise FileExistsError(f'{tree}: an ImageNet-21K tree is already '
                              'there; expected an empty folder')
    names = imagenet21k_like_names(classes, seed)
    wnids = [f'n{i:08d}' for i in range(classes)]
    for i, wnid in enumerate(wnids):
        for split, num in (('train', per_class), ('val', val_per_class)):
            write_jpegs(osp.join(root, f'imagenet21k_{split}', wnid), num,
                        seed=seed * 100003 + i * 2 + (split == 'val'))
    buf = io.BytesIO()
    torch.save({'class_description': dict(zip(wnids, names))}, buf)
    atomic_write(tree, lambda f: f.write(buf.getvalue()))
    return root
