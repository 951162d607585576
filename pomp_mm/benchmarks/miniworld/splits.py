"""Source and target vocabularies of the mini-world (ImageNet-21K stand-in).

A seeded permutation of the 20,736 classes gives a **source** pool (80%,
the pre-training vocabulary) and a **target** pool (20%); every target
dataset draws its classes from the target pool, so no target class is ever
seen during prompt pre-training. Each target dataset has a seen/unseen
(base/novel) half, as CoCoOp's base-to-novel protocol, which segmentation
and detection reuse as seen/unseen and base/novel classes.
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from .world import NUM_CLASSES, SHAPES, class_attributes

SOURCE_FRACTION = 0.8


def class_pools(seed: int = 0) -> Tuple[List[int], List[int]]:
    """(source class ids, target class ids), disjoint, covering all."""
    perm = np.random.default_rng(seed).permutation(NUM_CLASSES)
    cut = int(round(SOURCE_FRACTION * NUM_CLASSES))
    return sorted(perm[:cut].tolist()), sorted(perm[cut:].tolist())


@dataclass(frozen=True)
class TargetSpec:
    """A target dataset: which target-pool classes, which domain."""
    name: str
    num_classes: int
    domain: str = 'clean'
    shapes: Tuple[str, ...] = ()  # restrict to these shapes (fine-grained)
    same_classes_as: str = ''     # a domain-shifted copy of another target


TARGETS: Dict[str, TargetSpec] = {
    t.name: t for t in (
        TargetSpec('mixed200', 200),
        TargetSpec('stars_hearts', 100, shapes=('star', 'heart')),
        TargetSpec('mixed200_dark', 200, domain='shifted',
                   same_classes_as='mixed200'),
    )
}


def target_classes(name: str, seed: int = 0) -> Tuple[List[int], List[int]]:
    """(seen class ids, unseen class ids) of a target dataset.

    Args:
        name (str): One of :data:`TARGETS`.
        seed (int): The world seed. Defaults to 0.

    Returns:
        tuple[list[int], list[int]]: Two disjoint halves, sorted.
    """
    if name not in TARGETS:
        raise ValueError(f'unknown mini-world target {name!r}; expected one '
                         f'of {sorted(TARGETS)}')
    spec = TARGETS[name]
    if spec.same_classes_as:
        return target_classes(spec.same_classes_as, seed)
    _, pool = class_pools(seed)
    if spec.shapes:
        bad = set(spec.shapes) - set(SHAPES)
        if bad:
            raise ValueError(f'target {name!r}: unknown shapes {bad}')
        pool = [c for c in pool if class_attributes(c)[2] in spec.shapes]
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    chosen = rng.choice(pool, spec.num_classes, replace=False)
    half = spec.num_classes // 2
    return sorted(chosen[:half].tolist()), sorted(chosen[half:].tolist())
