# Copyright (c) pomp_mm contributors. All rights reserved.
"""Pictures of predictions that are right at any vocabulary and image size.

* :func:`palette` gives ``n`` distinct RGB colours for any ``n`` (golden-
  ratio hues, three saturation/value rings), the same for the same ``n``:
  COCO's 80 colours no longer cap a 200-class mini-world vocabulary.
* Every drawing takes and returns a **BGR** ``uint8`` image (OpenCV's and
  ``mmcv.imread``'s order) and converts each RGB palette colour once, here:
  a yellow object is drawn yellow.
* Small images (the 64 px mini-world) are upscaled (nearest neighbour, so
  the pixels stay as they are) to :data:`MIN_DRAW_SIDE` before any label is
  drawn, so text is legible at any input size.
* :func:`out_name` keeps an input's path relative to its folder, so two
  ``img.png`` in two class folders never overwrite each other.
"""
import colorsys
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: Shorter side (pixels) an image is upscaled to before labels are drawn.
MIN_DRAW_SIDE = 384
_GOLDEN = 0.618033988749895
_RINGS = ((0.75, 0.95), (0.55, 0.75), (0.95, 0.6))  # (saturation, value)


def palette(n: int) -> List[Tuple[int, int, int]]:
    """``n`` distinct RGB colours (0-255), deterministic for ``n``.

    Hue ``k * 0.618...`` (mod 1) spreads any number of colours evenly round
    the wheel; consecutive classes also cycle through three saturation /
    value rings, so classes far apart in hue order stay apart too.
    """
    if n < 0:
        raise ValueError(f'palette: n={n}; expected >= 0')
    colours = []
    for k in range(n):
        s, v = _RINGS[k % len(_RINGS)]
        r, g, b = colorsys.hsv_to_rgb((k * _GOLDEN) % 1.0, s, v)
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return colours


def _bgr(rgb: Sequence[int]) -> Tuple[int, int, int]:
    return int(rgb[2]), int(rgb[1]), int(rgb[0])


def upscale(image: np.ndarray, min_side: int = MIN_DRAW_SIDE
            ) -> Tuple[np.ndarray, float]:
    """The image with its shorter side at least ``min_side`` (integer
    nearest-neighbour factor) and that factor."""
    h, w = image.shape[:2]
    factor = max(1, int(np.ceil(min_side / max(1, min(h, w)))))
    if factor == 1:
        return image.copy(), 1.0
    return cv2.resize(image, (w * factor, h * factor),
                      interpolation=cv2.INTER_NEAREST), float(factor)


def _font_scale(image: np.ndarray) -> float:
    return max(0.5, min(image.shape[:2]) / 700)


def _label(image: np.ndarray, text: str, x: int, y: int,
           colour_bgr: Tuple[int, int, int],
           scale: Optional[float] = None) -> None:
    """Text on a filled box of ``colour_bgr`` at (x, y) (top-left), black or
    white, whichever reads better on that colour."""
    scale = _font_scale(image) if scale is None else scale
    thick = max(1, int(round(scale * 1.5)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale,
                                     thick)
    h, w = image.shape[:2]
    x = int(min(max(0, x), max(0, w - tw - 4)))
    y = int(min(max(0, y), max(0, h - th - base - 4)))
    cv2.rectangle(image, (x, y), (x + tw + 4, y + th + base + 4), colour_bgr,
                  -1)
    luma = 0.114 * colour_bgr[0] + 0.587 * colour_bgr[1] + \
        0.299 * colour_bgr[2]
    ink = (0, 0, 0) if luma > 140 else (255, 255, 255)
    cv2.putText(image, text, (x + 2, y + th + 2), cv2.FONT_HERSHEY_SIMPLEX,
                scale, ink, thick, cv2.LINE_AA)


def _with_panel(image: np.ndarray,
                entries: Sequence[Tuple[str, Tuple[int, int, int]]]
                ) -> np.ndarray:
    """The image with a white panel on its right holding one label per
    entry (``(text, colour_bgr)``), so no label covers the picture. The
    image keeps its pixels at ``[:h, :w]``."""
    h, w = image.shape[:2]
    scale = _font_scale(image)
    thick = max(1, int(round(scale * 1.5)))
    size = [cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
            for t, _ in entries]
    step = int(cv2.getTextSize('Ag', cv2.FONT_HERSHEY_SIMPLEX, scale,
                               1)[0][1] * 1.9) + 6
    panel_w = max([tw for (tw, _), _ in size] + [0]) + 16 if entries else 0
    out = np.full((max(h, 8 + step * len(entries)), w + panel_w, 3), 255,
                  np.uint8)
    out[:h, :w] = image
    for row, (text, colour) in enumerate(entries):
        _label(out, text, w + 6, 4 + row * step, colour, scale)
    return out


def draw_classification(image: np.ndarray, names: Sequence[str],
                        scores: Sequence[float]) -> np.ndarray:
    """The image (BGR), upscaled if small, with its top-k ``name: score``
    lines beside it (the best one highlighted)."""
    out, _ = upscale(image)
    return _with_panel(out, [(f'{name}: {score:.2f}',
                              (0, 200, 255) if i == 0 else (235, 235, 235))
                             for i, (name, score) in
                             enumerate(zip(names, scores))])


def draw_segmentation(image: np.ndarray, label_map: np.ndarray,
                      names: Sequence[str], alpha: float = 0.55,
                      ignore_index: int = 255) -> np.ndarray:
    """The image (BGR) blended with one palette colour per class of
    ``label_map`` (``ignore_index``: no class, left as is) and, beside it, a
    legend of the classes present with their share of the pixels, largest
    first."""
    colours = palette(len(names))
    lut = np.zeros((max(len(names), ignore_index + 1), 3), np.uint8)
    for i, c in enumerate(colours):
        lut[i] = _bgr(c)
    label_map = np.asarray(label_map)
    valid = label_map != ignore_index
    colour = lut[np.where(valid, label_map, 0)]
    blend = image.astype(np.float32).copy()
    blend[valid] = (1 - alpha) * blend[valid] + alpha * colour[valid]
    out, factor = upscale(blend.round().clip(0, 255).astype(np.uint8))
    ids, counts = np.unique(label_map[valid], return_counts=True)
    order = np.argsort(-counts, kind='stable')
    total = label_map.size
    return _with_panel(out, [
        (f'{names[int(ids[k])]} {100 * counts[k] / total:.0f}%',
         _bgr(colours[int(ids[k])])) for k in order])


def draw_detection(image: np.ndarray, boxes: np.ndarray,
                   labels: Sequence[int], scores: Sequence[float],
                   names: Sequence[str]) -> np.ndarray:
    """The image (BGR) with each box in its class's palette colour and a
    ``name score`` tag."""
    out, factor = upscale(image)
    colours = palette(len(names))
    thick = max(2, int(round(min(out.shape[:2]) / 250)))
    for box, label, score in zip(np.asarray(boxes).reshape(-1, 4), labels,
                                 scores):
        x1, y1, x2, y2 = (np.asarray(box, np.float64) * factor).round()
        colour = _bgr(colours[int(label)])
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), colour,
                      thick)
        _label(out, f'{names[int(label)]} {float(score):.2f}', int(x1),
               int(y1), colour)
    return out


def out_name(path: Optional[str], root: Optional[str], index: int) -> str:
    """The output name (no extension) of an input: its path relative to
    ``root`` (the folder it was listed from) with ``/`` kept as folders, or
    its base name, or ``image_{index}`` for an array."""
    if not isinstance(path, str):
        return f'image_{index:05d}'
    if root:
        rel = osp.relpath(path, root)
        if not rel.startswith('..'):
            return osp.splitext(rel)[0]
    return osp.splitext(osp.basename(path))[0]
