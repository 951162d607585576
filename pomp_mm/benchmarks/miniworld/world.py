"""A procedural world of coloured, patterned, outlined shapes.

Every class is a composition of four attributes: fill colour, pattern,
shape and outline colour, written as a natural phrase, e.g.
``"red striped star with a blue outline"``. 16 colours x 9 patterns x
12 shapes x 12 outline colours give 20,736 class names, the scale of
ImageNet-21K's vocabulary, with no download.

A :class:`Scene` is a list of :class:`SceneObject` (class, centre, size,
rotation) on a background of some *domain* (``'clean'``: smooth light
backgrounds; ``'shifted'``: dark, noisy, textured backgrounds with a colour
cast). :func:`render_scene` draws the image and, from the same polygons, the
per-pixel instance mask and the boxes, so one world serves classification,
segmentation and detection. Rendering is deterministic given the scene.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image, ImageDraw

COLOURS: Dict[str, Tuple[int, int, int]] = {
    'red': (220, 30, 30), 'orange': (245, 140, 20), 'yellow': (240, 220, 30),
    'lime': (150, 230, 40), 'green': (30, 150, 50), 'teal': (20, 140, 140),
    'cyan': (40, 220, 230), 'blue': (30, 70, 220), 'navy': (20, 30, 110),
    'purple': (130, 40, 180), 'magenta': (230, 40, 200),
    'pink': (250, 160, 190), 'brown': (130, 80, 30), 'black': (20, 20, 20),
    'gray': (128, 128, 128), 'white': (250, 250, 250),
}
PATTERNS = ('solid', 'striped', 'dotted', 'checkered', 'wavy', 'gridded',
            'zigzag', 'diagonal', 'ringed')
SHAPES = ('circle', 'square', 'triangle', 'star', 'hexagon', 'pentagon',
          'diamond', 'cross', 'heart', 'crescent', 'arrow', 'octagon')
OUTLINES = ('red', 'orange', 'yellow', 'green', 'teal', 'blue', 'purple',
            'pink', 'brown', 'black', 'gray', 'white')
COLOUR_NAMES = tuple(COLOURS)
ATTRIBUTES = (COLOUR_NAMES, PATTERNS, SHAPES, OUTLINES)
NUM_CLASSES = math.prod(len(a) for a in ATTRIBUTES)  # 20,736
DOMAINS = ('clean', 'shifted')


def class_attributes(class_id: int) -> Tuple[str, str, str, str]:
    """(colour, pattern, shape, outline) of a class id in [0, 20736)."""
    if not 0 <= class_id < NUM_CLASSES:
        raise ValueError(f'class id {class_id} outside [0, {NUM_CLASSES})')
    parts = []
    for values in reversed(ATTRIBUTES):
        class_id, i = divmod(class_id, len(values))
        parts.append(values[i])
    return tuple(reversed(parts))


def class_id(colour: str, pattern: str, shape: str, outline: str) -> int:
    """Inverse of :func:`class_attributes`."""
    cid = 0
    for values, v in zip(ATTRIBUTES, (colour, pattern, shape, outline)):
        cid = cid * len(values) + values.index(v)
    return cid


def class_name(cid: int) -> str:
    """The class phrase, e.g. ``'red striped star with a blue outline'``."""
    colour, pattern, shape, outline = class_attributes(cid)
    return f'{colour} {pattern} {shape} with a {outline} outline'


@dataclass
class SceneObject:
    """One object: its class and placement (pixels, degrees)."""
    class_id: int
    cx: float
    cy: float
    size: float  # circumradius
    angle: float


@dataclass
class Scene:
    """A background of some domain plus objects, drawn back to front."""
    objects: List[SceneObject]
    domain: str = 'clean'
    background_seed: int = 0
    size: int = 64
    meta: dict = field(default_factory=dict)


# --------------------------------------------------------------------------
# geometry
def _regular(n: int, start: float = -90.0) -> np.ndarray:
    a = np.deg2rad(start + 360.0 * np.arange(n) / n)
    return np.stack([np.cos(a), np.sin(a)], 1)


def _star(points: int = 5, inner: float = 0.45) -> np.ndarray:
    outer = _regular(2 * points)
    outer[1::2] *= inner
    return outer


def _heart(n: int = 40) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x = 16 * np.sin(t)**3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) -
          np.cos(4 * t))
    pts = np.stack([x, y], 1)
    return pts / np.abs(pts).max()


def _crescent(n: int = 24) -> np.ndarray:
    """The unit disc minus a disc of radius 0.75 centred at (0.45, 0)."""
    a = np.deg2rad(np.linspace(44.7, 315.3, n))  # outer arc, via the left
    outer = np.stack([np.cos(a), np.sin(a)], 1)
    b = np.deg2rad(np.linspace(-69.6, -290.4, n))  # inner arc, back
    inner = np.stack([0.45 + 0.75 * np.cos(b), 0.75 * np.sin(b)], 1)
    return np.concatenate([outer, inner]) + [0.25, 0]


SHAPE_POINTS: Dict[str, np.ndarray] = {
    'circle': _regular(32),
    'square': _regular(4, 45) * 1.0,
    'triangle': _regular(3),
    'star': _star(),
    'hexagon': _regular(6),
    'pentagon': _regular(5),
    'diamond': _regular(4) * np.array([0.65, 1.0]),
    'cross': np.array([[-.33, -1], [.33, -1], [.33, -.33], [1, -.33],
                       [1, .33], [.33, .33], [.33, 1], [-.33, 1],
                       [-.33, .33], [-1, .33], [-1, -.33], [-.33, -.33]]),
    'heart': _heart(),
    'crescent': _crescent(),
    'arrow': np.array([[-1, -.3], [.2, -.3], [.2, -.75], [1, 0], [.2, .75],
                       [.2, .3], [-1, .3]]),
    'octagon': _regular(8, 22.5),
}


def object_polygon(obj: SceneObject) -> np.ndarray:
    """(n, 2) polygon of an object in pixel coordinates."""
    shape = class_attributes(obj.class_id)[2]
    pts = SHAPE_POINTS[shape] * obj.size
    a = np.deg2rad(obj.angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return pts @ rot.T + [obj.cx, obj.cy]


def object_region(obj: SceneObject, size: int) -> np.ndarray:
    """(size, size) bool mask of the pixels an object covers, unoccluded."""
    poly = [tuple(p) for p in object_polygon(obj)]
    m = Image.new('L', (size, size), 0)
    ImageDraw.Draw(m).polygon(poly, fill=1)
    ImageDraw.Draw(m).line(poly + [poly[0]], fill=1, width=3)
    return np.asarray(m, bool)


def object_box(obj: SceneObject, size: int) -> Tuple[float, float, float,
                                                      float]:
    """Full-extent box (x1, y1, x2, y2) of an object, clipped to the image."""
    poly = object_polygon(obj)
    x1, y1 = np.clip(poly.min(0), 0, size)
    x2, y2 = np.clip(poly.max(0), 0, size)
    return float(x1), float(y1), float(x2), float(y2)


# --------------------------------------------------------------------------
# textures
def _pattern(pattern: str, size: int, period: int) -> np.ndarray:
    """A boolean (size, size) mask of the pattern's secondary colour."""
    y, x = np.mgrid[0:size, 0:size]
    p = period
    if pattern == 'solid':
        return np.zeros((size, size), bool)
    if pattern == 'striped':
        return (y // (p // 2)) % 2 == 0
    if pattern == 'dotted':
        return ((x % p - p / 2)**2 + (y % p - p / 2)**2) < (p / 4)**2
    if pattern == 'checkered':
        return ((x // (p // 2)) + (y // (p // 2))) % 2 == 0
    if pattern == 'wavy':
        return np.sin(2 * np.pi * (y + 2 * np.sin(2 * np.pi * x / p)) / p) > 0
    if pattern == 'gridded':
        return (x % p < 2) | (y % p < 2)
    if pattern == 'zigzag':
        return ((y + np.abs((x % p) - p / 2)) // (p // 2)) % 2 == 0
    if pattern == 'diagonal':
        return ((x + y) // (p // 2)) % 2 == 0
    if pattern == 'ringed':
        c = size / 2
        return (np.sqrt((x - c)**2 + (y - c)**2) // (p // 2)) % 2 == 0
    raise ValueError(f'unknown pattern {pattern!r}')


def _secondary(rgb: Tuple[int, int, int]) -> np.ndarray:
    """The pattern's second colour: the fill pushed towards black/white."""
    c = np.array(rgb, float)
    lum = c @ [0.299, 0.587, 0.114]
    return np.clip(c * 0.35 if lum > 110 else c * 0.4 + 150, 0, 255)


def render_background(domain: str, size: int, seed: int) -> np.ndarray:
    """A (size, size, 3) uint8 background of the given domain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    if domain == 'clean':
        c0 = rng.uniform(175, 245, 3)
        c1 = rng.uniform(175, 245, 3)
        t = (x * rng.uniform(-1, 1) + y * rng.uniform(-1, 1))[..., None]
        img = c0 + (c1 - c0) * (t - t.min()) / (np.ptp(t) + 1e-6)
        img = img + rng.normal(0, 3, img.shape)
    elif domain == 'shifted':
        c0 = rng.uniform(20, 90, 3)
        blobs = sum(np.sin(2 * np.pi * (x * rng.uniform(1, 4) +
                                        y * rng.uniform(1, 4) +
                                        rng.uniform())) for _ in range(3))
        img = c0 + 25 * blobs[..., None] * rng.uniform(0.3, 1, 3)
        img = img + rng.normal(0, 18, img.shape)
    else:
        raise ValueError(f'unknown domain {domain!r}; expected one of '
                         f'{DOMAINS}')
    return np.clip(img, 0, 255).astype(np.uint8)


def render_scene(scene: Scene) -> Tuple[np.ndarray, np.ndarray]:
    """Draw a scene.

    Args:
        scene (Scene): The scene description.

    Returns:
        tuple[np.ndarray, np.ndarray]: The (S, S, 3) uint8 RGB image and
        the (S, S) int32 instance map: pixel value ``i + 1`` where object
        ``i`` is visible (later objects occlude earlier ones), 0 elsewhere.
    """
    size = scene.size
    img = render_background(scene.domain, size, scene.background_seed)
    inst = np.zeros((size, size), np.int32)
    for i, obj in enumerate(scene.objects):
        colour, pattern, _, outline = class_attributes(obj.class_id)
        poly = [tuple(p) for p in object_polygon(obj)]
        region = object_region(obj, size)
        fill = np.empty((size, size, 3), float)
        fill[:] = COLOURS[colour]
        period = max(4, int(round(obj.size / 2.5)))
        fill[_pattern(pattern, size, period)] = _secondary(COLOURS[colour])
        o = Image.new('L', (size, size), 0)
        ImageDraw.Draw(o).line(poly + [poly[0]], fill=1,
                               width=max(2, int(round(obj.size / 8))))
        edge = np.asarray(o, bool)
        fill[edge] = COLOURS[outline]
        img[region] = fill[region].astype(np.uint8)
        inst[region] = i + 1
    if scene.domain == 'shifted':  # a colour cast over the whole picture
        cast = np.random.default_rng(scene.background_seed + 1).uniform(
            0.8, 1.1, 3)
        img = np.clip(img * cast, 0, 255).astype(np.uint8)
    return img, inst


def sample_scene(rng: np.random.Generator,
                 class_ids: List[int],
                 domain: str = 'clean',
                 size: int = 64,
                 single: bool = True) -> Scene:
    """Place one (classification) or several (segmentation/detection)
    objects of the given classes at random, mostly inside the image."""
    objects = []
    for cid in class_ids:
        if single:
            r = rng.uniform(0.30, 0.42) * size
            cx, cy = size / 2 + rng.uniform(-0.1, 0.1, 2) * size
        else:
            r = rng.uniform(0.16, 0.28) * size
            cx, cy = rng.uniform(r * 0.8, size - r * 0.8, 2)
        objects.append(SceneObject(int(cid), float(cx), float(cy), float(r),
                                   float(rng.uniform(-30, 30))))
    return Scene(objects, domain, int(rng.integers(2**31)), size)


def caption(scene: Scene, rng: np.random.Generator) -> str:
    """A caption naming every object (the tiny CLIP's training text)."""
    names = [class_name(o.class_id) for o in scene.objects]
    what = ' and '.join(f'a {n}' for n in names)
    where = {'clean': ['on a light background', 'on a plain background', ''],
             'shifted': ['on a dark noisy background', 'on a dark texture',
                         '']}[scene.domain]
    tmpl = ['{} {}', 'a picture of {} {}', 'a drawing of {} {}', '{}']
    w = where[rng.integers(len(where))]
    t = tmpl[rng.integers(len(tmpl))]
    return ' '.join(t.format(what, w).split()) + '.'
