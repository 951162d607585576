# Copyright (c) pomp_mm contributors. All rights reserved.
"""The embedded default dataset: procedural "colour x shape" images.

Nothing is downloaded: :func:`generate_embedded_dataset` draws small PNG
images, each showing one object whose class is a colour and a shape
("red circle", "blue triangle", ...) at a random position, size and
rotation on a noisy background. 8 colours x 6 shapes give up to 48 classes.

Layout (a :class:`ClassFolderDataset` root)::

    <root>/train/<colour>_<shape>/<index>.png
    <root>/val/<colour>_<shape>/<index>.png
    <root>/classnames.txt      # names in sorted-folder (label) order
    <root>/.complete           # JSON of the generation parameters, last

Command line::

    python -m pomp_mm.cls.datasets.embedded --out data/pomp_default
"""
import argparse
import json
import math
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dist import barrier, get_local_rank, is_distributed
from mmpretrain.registry import DATASETS
from PIL import Image, ImageDraw

from .folder import ClassFolderDataset

#: Bump when the drawing code changes, so old copies are regenerated.
GENERATOR_VERSION = 1
MARKER = '.complete'
CLASSNAMES_FILE = 'classnames.txt'
SPLITS = ('train', 'val')
COLOURS: Tuple[Tuple[str, Tuple[int, int, int]], ...] = (
    ('red', (220, 35, 35)),
    ('green', (35, 170, 60)),
    ('blue', (40, 80, 235)),
    ('yellow', (245, 220, 35)),
    ('orange', (250, 135, 20)),
    ('purple', (150, 45, 195)),
    ('white', (250, 250, 250)),
    ('black', (10, 10, 10)),
)
SHAPES = ('circle', 'square', 'triangle', 'star', 'cross', 'ring')
MAX_CLASSES = len(COLOURS) * len(SHAPES)
DEFAULTS = dict(
    num_classes=MAX_CLASSES,
    train_per_class=16,
    val_per_class=8,
    image_size=64,
    seed=0)
_SUPERSAMPLE = 2


def class_pairs(num_classes: int) -> List[Tuple[int, int]]:
    """``(colour index, shape index)`` of the first ``num_classes`` classes.

    Pairs are enumerated along diagonals (shape ``s`` with colour
    ``(s + d) % 8``) so that a small subset mixes colours and shapes.

    Args:
        num_classes (int): 1 to :data:`MAX_CLASSES`.

    Returns:
        list[tuple[int, int]]: One pair per class.
    """
    pairs = [((s + d) % len(COLOURS), s) for d in range(len(COLOURS))
             for s in range(len(SHAPES))]
    return pairs[:num_classes]


def class_folder(colour: int, shape: int) -> str:
    """Folder name of a class, e.g. ``'red_circle'``.

    Args:
        colour (int): Index into :data:`COLOURS`.
        shape (int): Index into :data:`SHAPES`.

    Returns:
        str: ``'<colour>_<shape>'``.
    """
    return f'{COLOURS[colour][0]}_{SHAPES[shape]}'


def _shape_polygon(shape: str) -> Optional[np.ndarray]:
    """Vertices of a shape of radius 1 centred on the origin.

    Args:
        shape (str): One of :data:`SHAPES`.

    Returns:
        np.ndarray | None: ``(N, 2)`` vertices, None for round shapes.
    """
    if shape == 'square':
        angles = np.pi / 4 + np.arange(4) * np.pi / 2
        return np.stack([np.cos(angles), np.sin(angles)], 1)
    if shape == 'triangle':
        angles = -np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        return np.stack([np.cos(angles), np.sin(angles)], 1)
    if shape == 'star':
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)
    if shape == 'cross':
        a, b = 0.3, 1.0
        return np.array([(a, b), (a, a), (b, a), (b, -a), (a, -a), (a, -b),
                         (-a, -b), (-a, -a), (-b, -a), (-b, a), (-a, a),
                         (-a, b)])
    return None


def _object_mask(shape: str, size: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Anti-aliased alpha mask of one randomly placed, rotated object.

    Args:
        shape (str): One of :data:`SHAPES`.
        size (int): Image side in pixels.
        rng (np.random.Generator): Source of position, size and rotation.

    Returns:
        np.ndarray: ``(size, size)`` float32 alpha in ``[0, 1]``.
    """
    big = size * _SUPERSAMPLE
    radius = rng.uniform(0.2, 0.34) * big
    cx, cy = rng.uniform(radius, big - radius, size=2)
    mask = Image.new('L', (big, big), 0)
    draw = ImageDraw.Draw(mask)
    polygon = _shape_polygon(shape)
    if polygon is not None:
        theta = rng.uniform(0, 2 * math.pi)
        rot = np.array([[math.cos(theta), -math.sin(theta)],
                        [math.sin(theta), math.cos(theta)]])
        points = polygon @ rot.T * radius + (cx, cy)
        draw.polygon([tuple(p) for p in points], fill=255)
    else:
        r = radius * 0.9
        box = (cx - r, cy - r, cx + r, cy + r)
        width = 0 if shape == 'circle' else max(2, int(r * 0.35))
        draw.ellipse(
            box,
            fill=255 if shape == 'circle' else None,
            outline=255,
            width=width)
    mask = mask.resize((size, size), Image.BILINEAR)
    return np.asarray(mask, dtype=np.float32) / 255.0


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A low-saturation noisy gradient with a few faint distractor lines.

    Args:
        size (int): Image side in pixels.
        rng (np.random.Generator): Source of the randomness.

    Returns:
        np.ndarray: ``(size, size, 3)`` float32 RGB in ``[0, 255]``.
    """
    base = rng.uniform(70, 190) + rng.uniform(-20, 20, size=3)
    ramp = np.linspace(-1, 1, size, dtype=np.float32)
    gx, gy = rng.uniform(-25, 25, size=2)
    grad = gx * ramp[None, :] + gy * ramp[:, None]
    img = base[None, None, :] + grad[..., None]
    img = img + rng.normal(0, 14, size=(size, size, 3))
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(0, 4))):
        grey = int(rng.uniform(60, 200))
        xy = [tuple(p) for p in rng.uniform(0, size, size=(2, 2))]
        draw.line(xy, fill=(grey, grey, grey), width=1)
    return np.asarray(canvas, dtype=np.float32)


def render_image(colour: int, shape: int, size: int,
                 rng: np.random.Generator) -> Image.Image:
    """Draw one image of class ``(colour, shape)``.

    Args:
        colour (int): Index into :data:`COLOURS`.
        shape (int): Index into :data:`SHAPES`.
        size (int): Image side in pixels.
        rng (np.random.Generator): Source of the randomness.

    Returns:
        PIL.Image.Image: An RGB image.
    """
    bg = _background(size, rng)
    alpha = _object_mask(SHAPES[shape], size, rng)[..., None]
    rgb = np.asarray(COLOURS[colour][1], dtype=np.float32)
    fg = rgb + rng.uniform(-18, 18, size=3) \
        + rng.normal(0, 5, size=(size, size, 3))
    img = bg * (1 - alpha) + fg * alpha
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _check_params(params: Dict[str, int]) -> None:
    """Validate the generation parameters.

    Args:
        params (dict[str, int]): See :func:`generate_embedded_dataset`.

    Raises:
        ValueError: On a value out of range.
    """
    if not 1 <= params['num_classes'] <= MAX_CLASSES:
        raise ValueError(f'num_classes must be in [1, {MAX_CLASSES}], got '
                         f'{params["num_classes"]}')
    for key in ('train_per_class', 'val_per_class'):
        if params[key] < 1:
            raise ValueError(f'{key} must be >= 1, got {params[key]}')
    if params['image_size'] < 16:
        raise ValueError(f'image_size must be >= 16, got '
                         f'{params["image_size"]}')


def read_marker(root: str) -> Optional[dict]:
    """The parameters stored in ``<root>/.complete``.

    Args:
        root (str): Dataset root.

    Returns:
        dict | None: The parameters, or None if the marker is missing or
        unreadable.
    """
    try:
        with open(osp.join(root, MARKER), encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_split(root: str, split: str, pairs: Sequence[Tuple[int, int]],
                 per_class: int, params: Dict[str, int]) -> int:
    """Write the PNG images of one split.

    Each image has its own RNG seeded by ``(seed, split, class, index)``.

    Args:
        root (str): Dataset root being written.
        split (str): ``'train'`` or ``'val'``.
        pairs (Sequence[tuple[int, int]]): The classes.
        per_class (int): Images per class.
        params (dict[str, int]): Generation parameters.

    Returns:
        int: Number of images written.
    """
    split_id = SPLITS.index(split)
    for cls, (colour, shape) in enumerate(pairs):
        folder = osp.join(root, split, class_folder(colour, shape))
        os.makedirs(folder)
        for i in range(per_class):
            rng = np.random.default_rng([params['seed'], split_id, cls, i])
            img = render_image(colour, shape, params['image_size'], rng)
            img.save(osp.join(folder, f'{i:05d}.png'), compress_level=1)
    return len(pairs) * per_class


def _write_dataset(root: str, params: Dict[str, int]) -> Dict[str, int]:
    """Write images, ``classnames.txt`` and finally the marker.

    Args:
        root (str): An empty folder.
        params (dict[str, int]): Generation parameters.

    Returns:
        dict[str, int]: Image count per split.
    """
    pairs = class_pairs(params['num_classes'])
    counts = {
        split:
        _write_split(root, split, pairs, params[f'{split}_per_class'], params)
        for split in SPLITS
    }
    folders = sorted(class_folder(c, s) for c, s in pairs)
    with open(osp.join(root, CLASSNAMES_FILE), 'w', encoding='utf-8') as f:
        f.write(''.join(name.replace('_', ' ') + '\n' for name in folders))
    with open(osp.join(root, MARKER), 'w', encoding='utf-8') as f:
        json.dump(params, f, sort_keys=True)
    return counts


def _move_into_place(tmp: str, root: str, params: dict) -> None:
    """Rename the finished ``tmp`` folder to ``root``.

    An existing ``root`` (a stale embedded dataset or an empty folder) is
    replaced; if a concurrent run put an identical dataset there first, that
    one is kept.

    Args:
        tmp (str): The complete dataset.
        root (str): Its final place.
        params (dict): Generation parameters.
    """
    try:
        os.rename(tmp, root)  # works when root is missing or empty
        return
    except OSError:
        if read_marker(root) == params:
            return
    old = f'{root}.old-{os.getpid()}'
    try:
        os.rename(root, old)
    except FileNotFoundError:
        pass
    try:
        os.rename(tmp, root)
    except OSError:
        if read_marker(root) != params:
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _summary(root: str, params: dict, generated: bool) -> dict:
    """The description returned by :func:`generate_embedded_dataset`.

    Args:
        root (str): Dataset root.
        params (dict): Generation parameters.
        generated (bool): Whether this call wrote the data.

    Returns:
        dict: Parameters, counts, class names and ``generated``.
    """
    folders = sorted(
        class_folder(c, s) for c, s in class_pairs(params['num_classes']))
    return dict(
        params,
        root=root,
        generated=generated,
        classes=[name.replace('_', ' ') for name in folders],
        num_train=params['num_classes'] * params['train_per_class'],
        num_val=params['num_classes'] * params['val_per_class'])


def generate_embedded_dataset(
        root: str,
        num_classes: int = DEFAULTS['num_classes'],
        train_per_class: int = DEFAULTS['train_per_class'],
        val_per_class: int = DEFAULTS['val_per_class'],
        image_size: int = DEFAULTS['image_size'],
        seed: int = DEFAULTS['seed']) -> dict:
    """Generate the embedded dataset under ``root`` (idempotent).

    Returns at once when ``<root>/.complete`` holds the same parameters.
    Otherwise everything is written to a temporary sibling folder which is
    renamed to ``root`` at the end, so an interrupted run never leaves a
    half-written dataset. A stale embedded dataset at ``root`` is replaced;
    any other non-empty folder is left alone (error).

    Args:
        root (str): Destination folder, e.g. ``data/pomp_default``.
        num_classes (int): Number of colour x shape classes, at most 48.
            Defaults to 48.
        train_per_class (int): Train images per class. Defaults to 16.
        val_per_class (int): Val images per class. Defaults to 8.
        image_size (int): Image side in pixels. Defaults to 64.
        seed (int): Seed of the drawing. Defaults to 0.

    Returns:
        dict: The parameters plus ``root``, ``generated`` (False when the
        data was already there), ``classes``, ``num_train`` and ``num_val``.

    Raises:
        FileExistsError: If ``root`` is a non-empty folder that is not an
            embedded dataset.
    """
    params = dict(
        num_classes=int(num_classes),
        train_per_class=int(train_per_class),
        val_per_class=int(val_per_class),
        image_size=int(image_size),
        seed=int(seed),
        version=GENERATOR_VERSION)
    _check_params(params)
    if read_marker(root) == params:
        return _summary(root, params, generated=False)
    if osp.isdir(root) and os.listdir(root) and read_marker(root) is None:
        raise FileExistsError(
            f'{root}: folder exists and is not an embedded dataset (no '
            f'{MARKER} marker); refusing to overwrite it')
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(root)}.tmp-', dir=parent)
    try:
        _write_dataset(tmp, params)
        _move_into_place(tmp, root, params)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _summary(root, params, generated=True)


def is_complete(root: str) -> bool:
    """Tell whether ``root`` holds a finished embedded dataset.

    Args:
        root (str): Dataset root.

    Returns:
        bool: True when the ``.complete`` marker is there and readable.
    """
    return read_marker(root) is not None


def _prepare(root: str, generate_cfg: Optional[dict]) -> None:
    """Generate if needed (no-op when a dataset exists and no cfg is given).

    Args:
        root (str): Dataset root.
        generate_cfg (dict, optional): Arguments of
            :func:`generate_embedded_dataset`; None accepts any existing
            embedded dataset.
    """
    if generate_cfg is None and is_complete(root):
        return
    generate_embedded_dataset(root, **(generate_cfg or {}))


def ensure_embedded_dataset(root: str,
                            generate_cfg: Optional[dict] = None) -> None:
    """Make sure the embedded dataset exists, generating it once per node.

    In a distributed run the local rank 0 of each node generates while the
    other ranks wait at a barrier (generation is atomic, so nodes sharing a
    file system do not corrupt each other). A failure on the generating rank
    is re-raised there after the barrier; the other ranks then find no
    dataset and raise too, instead of hanging.

    Args:
        root (str): Dataset root.
        generate_cfg (dict, optional): See :func:`_prepare`.

    Raises:
        FileNotFoundError: If no dataset is there after generation.
    """
    if not is_distributed():
        _prepare(root, generate_cfg)
        return
    error: Optional[BaseException] = None
    if get_local_rank() == 0:
        try:
            _prepare(root, generate_cfg)
        except BaseException as e:  # re-raised after the barrier
            error = e
    barrier()
    if error is not None:
        raise error
    if not is_complete(root):
        raise FileNotFoundError(f'{root}: embedded dataset missing after '
                                'generation on local rank 0')


# ``python -m pomp_mm.cls.datasets.embedded`` executes this file a second
# time as ``__main__`` after the package imported it: only then replace the
# entry.
@DATASETS.register_module(force=__name__ == '__main__')
class EmbeddedDataset(ClassFolderDataset):
    """The embedded default dataset, generated on first use.

    Args:
        data_root (str): Dataset root. Defaults to ``'data/pomp_default'``.
        split (str): ``'train'`` or ``'val'``. Defaults to ``'train'``.
        generate (bool): Generate the data when missing. If False and the
            data is missing, raise. Defaults to True.
        generate_cfg (dict, optional): Arguments of
            :func:`generate_embedded_dataset`. When given, the data is
            regenerated if it was made with other parameters; when None any
            existing embedded dataset is used and a missing one is generated
            with the defaults. Defaults to None.
        **kwargs: Other arguments of :class:`ClassFolderDataset`
            (``num_shots``, ``seed``, ``pipeline``...).
    """

    def __init__(self,
                 data_root: str = 'data/pomp_default',
                 split: str = 'train',
                 generate: bool = True,
                 generate_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'EmbeddedDataset: split must be one of '
                             f'{SPLITS}, got {split!r}')
        for key in ('data_prefix', 'classnames_file', 'ann_file'):
            if key in kwargs:
                raise TypeError(f'EmbeddedDataset sets {key} itself; do not '
                                'pass it')
        self.split = split
        if generate:
            ensure_embedded_dataset(data_root, generate_cfg)
        elif not is_complete(data_root):
            raise FileNotFoundError(
                f'{data_root}: no embedded dataset ({MARKER} missing); run '
                '"python -m pomp_mm.cls.datasets.embedded --out '
                f'{data_root}" or set generate=True')
        super().__init__(
            data_root=data_root,
            classnames_file=CLASSNAMES_FILE,
            data_prefix=split,
            **kwargs)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line of ``python -m pomp_mm.cls.datasets.embedded``.

    Args:
        argv (Sequence[str], optional): Arguments; None reads ``sys.argv``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Generate the embedded colour x shape dataset.')
    parser.add_argument(
        '--out', default='data/pomp_default', help='destination folder')
    for key, value in DEFAULTS.items():
        parser.add_argument(
            f'--{key.replace("_", "-")}',
            type=int,
            default=value,
            help=f'default: {value}')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command-line entry point.

    Args:
        argv (Sequence[str], optional): Arguments; None reads ``sys.argv``.
    """
    args = parse_args(argv)
    cfg = {key: getattr(args, key) for key in DEFAULTS}
    info = generate_embedded_dataset(args.out, **cfg)
    state = 'generated' if info['generated'] else 'already up to date'
    print(f'{args.out}: {state}: {info["num_classes"]} classes, '
          f'{info["num_train"]} train / {info["num_val"]} val images of '
          f'{info["image_size"]} px')


if __name__ == '__main__':
    main()
