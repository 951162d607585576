"""Write mini-world scenes to disk for segmentation and detection.

Several objects of a target's classes (seen and unseen mixed) are placed in
each scene. One export serves both tasks, in the on-disk formats mmseg and
mmdet read:

.. code-block:: none

    ROOT/
      classes.json            {"classes": [...], "seen": [...],
                               "unseen": [...]}
      images/SPLIT/00000.png  RGB scenes
      annotations/SPLIT/00000.png  semantic labels: the index into
                                   "classes" of each pixel, 255 = background
      instances_SPLIT.json    COCO boxes and instance masks (compressed
                              RLE) of the visible part of each object;
                              category i+1 is classes[i]

``classes`` lists the seen classes first, then the unseen ones. Background
pixels are ignored (255), as in ZSSeg's Pascal VOC protocol. A box is the
extent of the object's *visible* pixels; objects less than
``min_visible`` visible are left out of the boxes (their pixels still keep
their label in the mask).

Usage::

    python -m pomp_mm.benchmarks.miniworld.export \\
        data/miniworld/scenes/mixed200 \\
        --target mixed200 --split test:300
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import shutil
import tempfile
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from pomp_mm.core.vocabulary import read_vocabulary_file  # noqa: F401
#: The version of the export's layout, in classes.json: 2 adds the instance
#: masks (RLE) to instances_SPLIT.json; an export of another version is
#: written again by tools/miniworld.py.
EXPORT_FORMAT = 2
# the pixel value of background (ignored) in the semantic masks
from pomp_mm.seg.splits import IGNORE_INDEX

from .splits import TARGETS, target_classes
from .world import class_name, object_region, render_scene, sample_scene


def target_vocabulary(target: str, world_seed: int = 0) -> Dict[str, list]:
    """Names of a target's classes: ``classes`` (seen then unseen),
    ``seen``, ``unseen`` and the class ``ids`` in the same order."""
    seen, unseen = target_classes(target, world_seed)
    ids = seen + unseen
    if len(ids) > IGNORE_INDEX:
        raise ValueError(f'target {target!r} has {len(ids)} classes; masks '
                         f'hold at most {IGNORE_INDEX}')
    return dict(classes=[class_name(c) for c in ids],
                seen=[class_name(c) for c in seen],
                unseen=[class_name(c) for c in unseen], ids=ids)


def scene_annotations(scene, inst: np.ndarray, labels: Dict[int, int],
                      min_visible: float = 0.3) -> Tuple[np.ndarray, list]:
    """The semantic mask and the visible boxes of a rendered scene.

    Args:
        scene (Scene): The scene description.
        inst (np.ndarray): Its instance map from :func:`render_scene`.
        labels (dict[int, int]): Class id -> label index.
        min_visible (float): Keep a box only when at least this fraction of
            the object's own drawing is visible. Defaults to 0.3.

    Returns:
        tuple[np.ndarray, list[dict]]: The (S, S) uint8 label map and a
        list of ``dict(label, bbox=[x, y, w, h], area, segmentation)``, the
        segmentation the object's visible pixels as COCO's compressed RLE.
    """
    sem = np.full(inst.shape, IGNORE_INDEX, np.uint8)
    boxes = []
    for i, obj in enumerate(scene.objects):
        visible = inst == i + 1
        sem[visible] = labels[obj.class_id]
        n = int(visible.sum())
        if n == 0:
            continue
        full = int(object_region(obj, inst.shape[0]).sum())
        if n < min_visible * full:
            continue
        ys, xs = np.nonzero(visible)
        x1, y1 = int(xs.min()), int(ys.min())
        x2, y2 = int(xs.max()) + 1, int(ys.max()) + 1
        rle = mask_utils.encode(np.asfortranarray(visible.astype(np.uint8)))
        boxes.append(dict(label=labels[obj.class_id],
                          bbox=[x1, y1, x2 - x1, y2 - y1], area=n,
                          segmentation=dict(size=list(rle['size']),
                                            counts=rle['counts'].decode())))
    return sem, boxes


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ValueError(f'unknown mini-world target {target!r}; expected '
                         f'one of {sorted(TARGETS)}')


@contextlib.contextmanager
def _written_whole(root: str, overwrite: bool):
    """Yield a temporary folder beside ``root`` to write into; when the
    block ends without an error it replaces ``root``, else it is removed
    (an interrupted export leaves nothing half-written)."""
    if osp.exists(root) and not overwrite:
        raise FileExistsError(f'{root} exists; pass overwrite=True (or '
                              '--overwrite) to replace it')
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.export-', dir=parent)
    try:
        yield tmp
        if osp.exists(root):
            shutil.rmtree(root)
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def export_scenes(root: str,
                  target: str = 'mixed200',
                  splits: Sequence[Tuple[str, int]] = (('test', 300), ),
                  size: int = 128,
                  objects: Tuple[int, int] = (2, 4),
                  seed: int = 0,
                  world_seed: int = 0,
                  domain: Optional[str] = None,
                  overwrite: bool = False) -> str:
    """Render scenes of a target and write images, masks and COCO boxes
    with instance masks.

    The export is written to a temporary folder beside ``root`` and renamed
    when complete, so an interrupted export leaves nothing half-written.

    Args:
        root (str): Output folder.
        target (str): A mini-world target (see :data:`TARGETS`).
        splits (Sequence[tuple[str, int]]): (split name, number of images).
            Defaults to 300 test images.
        size (int): Image side in pixels. Defaults to 128.
        objects (tuple[int, int]): Fewest and most objects per scene.
            Defaults to (2, 4).
        seed (int): Seed of the scenes; each split draws from its own
            stream, ``[seed, crc32(split name)]``, so a split's scenes do not
            depend on which other splits are exported. Defaults to 0.
        world_seed (int): Seed of the source/target split. Defaults to 0.
        domain (str, optional): ``'clean'`` or ``'shifted'``; defaults to the
            target's own domain.
        overwrite (bool): Replace an existing export. Defaults to False.

    Returns:
        str: ``root``.
    """
    _check_target(target)
    lo, hi = objects
    if not 1 <= lo <= hi:
        raise ValueError(f'objects={objects!r}: expected 1 <= fewest <= most')
    vocab = target_vocabulary(target, world_seed)
    ids = vocab.pop('ids')
    labels = {cid: i for i, cid in enumerate(ids)}
    domain = domain or TARGETS[target].domain
    with _written_whole(root, overwrite) as tmp:
        with open(osp.join(tmp, 'classes.json'), 'w') as f:
            json.dump(dict(vocab, target=target, domain=domain, size=size,
                           seed=seed, format=EXPORT_FORMAT), f, indent=1)
        for split, num in splits:
            _export_split(tmp, split, num, ids, labels, vocab['classes'],
                          size, (lo, hi), domain,
                          [seed, zlib.crc32(split.encode())])
    return root


def _export_split(tmp: str, split: str, num: int, ids: List[int],
                  labels: Dict[int, int], names: List[str], size: int,
                  objects: Tuple[int, int], domain: str, seed) -> None:
    img_dir = osp.join(tmp, 'images', split)
    ann_dir = osp.join(tmp, 'annotations', split)
    os.makedirs(img_dir)
    os.makedirs(ann_dir)
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(num):
        k = int(rng.integers(objects[0], objects[1] + 1))
        cids = rng.choice(ids, k, replace=False).tolist()
        scene = sample_scene(rng, cids, domain, size, single=False)
        img, inst = render_scene(scene)
        sem, boxes = scene_annotations(scene, inst, labels)
        name = f'{i:05d}.png'
        Image.fromarray(img).save(osp.join(img_dir, name))
        Image.fromarray(sem).save(osp.join(ann_dir, name))
        images.append(dict(id=i + 1, file_name=name, width=size,
                           height=size))
        for b in boxes:
            anns.append(dict(id=len(anns) + 1, image_id=i + 1,
                             category_id=b['label'] + 1, bbox=b['bbox'],
                             area=b['area'], segmentation=b['segmentation'],
                             iscrowd=0))
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(names)]
    with open(osp.join(tmp, f'instances_{split}.json'), 'w') as f:
        json.dump(dict(images=images, annotations=anns,
                       categories=categories), f)


def export_image_labels(root: str,
                        target: str = 'mixed200',
                        per_class: int = 8,
                        size: int = 64,
                        seed: int = 0,
                        world_seed: int = 0,
                        scene_root: Optional[str] = None,
                        overwrite: bool = False) -> str:
    """Write an image-labelled set of a target: Detic's ImageNet-LVIS in
    miniature.

    ``per_class`` single-object images of every class of the target, seen
    and unseen, rendered as the classification pool renders its images
    (``sample_scene`` with one object, at ``size`` px, the target's domain),
    each labelled with its class only (no box):

    .. code-block:: none

        ROOT/
          classes.json        as the scene export's (classes, seen, unseen)
          images/00000.png
          image_labels.json   Detic's format: images[].pos_category_ids;
                              category i+1 is classes[i]; no annotations
          cat_info_seen.json  (with scene_root) the box frequencies of the
                              scenes' train split, seen classes only, in
                              Detic's cat_info format (federated loss)

    The folder is written beside ``root`` and renamed when complete.

    Args:
        root (str): Output folder.
        target (str): A mini-world target. Defaults to ``'mixed200'``.
        per_class (int): Images per class. Defaults to 8.
        size (int): Image side. Defaults to 64 (the classification pool's;
            half the scenes', as Detic's image labels are at half the box
            images' size).
        seed (int): Seed of the images (stream ``[seed, crc32(
            'image_labels')]``). Defaults to 0.
        world_seed (int): Seed of the source/target split. Defaults to 0.
        scene_root (str, optional): A scene export of the same target with
            a ``train`` split: writes ``cat_info_seen.json``.
        overwrite (bool): Replace an existing folder. Defaults to False.

    Returns:
        str: ``root``.
    """
    from pomp_mm.det.datasets import write_cat_info
    _check_target(target)
    if per_class < 1:
        raise ValueError(f'per_class={per_class}: expected >= 1')
    vocab = target_vocabulary(target, world_seed)
    ids = vocab.pop('ids')
    domain = TARGETS[target].domain
    if scene_root is not None:
        scene_meta = read_vocabulary_file(scene_root)
        if scene_meta['classes'] != vocab['classes']:
            raise ValueError(f'{scene_root}: its classes are not those of '
                             f'{target} (world seed {world_seed})')
    with _written_whole(root, overwrite) as tmp:
        os.makedirs(osp.join(tmp, 'images'))
        rng = np.random.default_rng([seed, zlib.crc32(b'image_labels')])
        images = []
        for label, cid in enumerate(ids):
            for _ in range(per_class):
                scene = sample_scene(rng, [cid], domain, size)
                name = f'{len(images):05d}.png'
                Image.fromarray(render_scene(scene)[0]).save(
                    osp.join(tmp, 'images', name))
                images.append(dict(id=len(images) + 1, file_name=name,
                                   width=size, height=size,
                                   pos_category_ids=[label + 1]))
        categories = [dict(id=i + 1, name=n, image_count=per_class)
                      for i, n in enumerate(vocab['classes'])]
        with open(osp.join(tmp, 'image_labels.json'), 'w') as f:
            json.dump(dict(images=images, annotations=[],
                           categories=categories), f)
        with open(osp.join(tmp, 'classes.json'), 'w') as f:
            json.dump(dict(vocab, target=target, domain=domain, size=size,
                           seed=seed, per_class=per_class,
                           format=EXPORT_FORMAT), f, indent=1)
        if scene_root is not None:
            write_cat_info(osp.join(scene_root, 'instances_train.json'),
                           osp.join(tmp, 'cat_info_seen.json'),
                           classes=vocab['seen'])
    return root


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('root', help='output folder')
    p.add_argument('--target', default='mixed200', choices=sorted(TARGETS))
    p.add_argument('--split', action='append', default=None,
                   metavar='NAME:N', help='split and image count, e.g. '
                   'test:300 (repeatable; default test:300)')
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--overwrite', action='store_true')
    p.add_argument('--image-labels', type=int, default=None, metavar='N',
                   help='write the image-labelled set instead: N '
                   'single-object images per class (export_image_labels)')
    p.add_argument('--scene-root', default=None,
                   help='with --image-labels: the scene export whose train '
                   'boxes give cat_info_seen.json')
    args = p.parse_args(argv)
    if args.image_labels is not None:
        export_image_labels(args.root, args.target, args.image_labels,
                            seed=args.seed, scene_root=args.scene_root,
                            overwrite=args.overwrite)
        print(f'wrote {args.image_labels} image-labelled images per class of '
              f'{args.target} to {args.root}')
        return
    splits = []
    for item in args.split or ['test:300']:
        name, _, n = item.partition(':')
        if not name or not n.isdigit():
            p.error(f'--split {item!r}: expected NAME:COUNT, e.g. test:300')
        splits.append((name, int(n)))
    export_scenes(args.root, args.target, splits, args.size, seed=args.seed,
                  overwrite=args.overwrite)
    print(f'wrote {", ".join(f"{n} {s}" for s, n in splits)} scenes of '
          f'{args.target} to {args.root}')


if __name__ == '__main__':
    main()
