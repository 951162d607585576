"""Several training seeds of the mini-world benchmark: their spread.

``tools/miniworld.py --seeds 0 1 2`` keeps the world (class splits, scenes,
the tiny CLIP) fixed and repeats every *training* (POMP, CoOp, detectors)
once per seed. This module holds the statistics that needs:

- :func:`aggregate` turns the per-seed result trees into a mean tree and a
  sample-std tree (n - 1 in the denominator: the seeds are a sample of all
  seeds), :func:`cell` prints one ``mean ± std`` cell;
- :func:`outside_spread` is the rule the docs use to call a gain real.

What is reused between runs (a seed is in the config, so in the key) is
:mod:`pomp_mm.benchmarks.runner`'s.
"""
import math
from typing import Any, Iterable, List, Optional, Sequence, Tuple


def mean_std(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    """Mean and sample standard deviation (n - 1) of ``values``.

    Args:
        values (Sequence[float]): One number per seed.

    Returns:
        tuple: ``(mean, std)``; std is None for a single value (a sample
        std needs two).
    """
    n = len(values)
    if n == 0:
        raise ValueError('mean_std: no values; expected one per seed')
    mean = math.fsum(values) / n
    if n == 1:
        return mean, None
    var = math.fsum((v - mean)**2 for v in values) / (n - 1)
    return mean, math.sqrt(var)


def aggregate(per_seed: Sequence[Any]) -> Tuple[Any, Any]:
    """Cell-wise mean and sample std of result trees of the same shape.

    A tree is a number, a list of trees or a dict of trees (the tables of
    ``tools/miniworld.py``: target -> method -> [seen, unseen, H]).
    Derived cells such as H are averaged as they are, i.e. the mean of the
    per-seed harmonic means, not the harmonic mean of the means.

    Args:
        per_seed (Sequence): One tree per seed.

    Returns:
        tuple: ``(mean_tree, std_tree)`` with the trees' shape.
    """
    return _aggregate(list(per_seed), 'results')


def _aggregate(trees: List[Any], where: str) -> Tuple[Any, Any]:
    first = trees[0]
    if isinstance(first, dict):
        keys = list(first)
        for t in trees[1:]:
            if not isinstance(t, dict) or list(t) != keys:
                raise ValueError(f'aggregate: {where} has keys {keys} in the '
                                 'first seed and '
                                 f'{list(t) if isinstance(t, dict) else t!r}'
                                 ' in another; expected the same table for '
                                 'every seed')
        pairs = {k: _aggregate([t[k] for t in trees], f'{where}[{k!r}]')
                 for k in keys}
        return ({k: p[0] for k, p in pairs.items()},
                {k: p[1] for k, p in pairs.items()})
    if isinstance(first, list):
        for t in trees[1:]:
            if not isinstance(t, list) or len(t) != len(first):
                raise ValueError(f'aggregate: {where} has {len(first)} '
                                 f'values in the first seed and {t!r} in '
                                 'another; expected the same table for '
                                 'every seed')
        pairs = [_aggregate([t[i] for t in trees], f'{where}[{i}]')
                 for i in range(len(first))]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    for t in trees:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or \
                not math.isfinite(t):
            raise ValueError(f'aggregate: {where} is {t!r} in one seed; '
                             'expected a finite number')
    return mean_std([float(t) for t in trees])


def cell(mean: float, std: Optional[float]) -> str:
    """``'85.4'`` for one seed, ``'85.4 ± 0.6'`` for several."""
    return f'{mean:.1f}' if std is None else f'{mean:.1f} ± {std:.1f}'


def outside_spread(a: Tuple[float, Optional[float]],
                   b: Tuple[float, Optional[float]]) -> bool:
    """Whether mean ``a`` exceeds mean ``b`` by more than their spread.

    The rule of the docs: the gap of the means is larger than the sum of
    the two sample stds. It only speaks of seed-to-seed variation (the
    test images are the same for every seed); with one seed there is no
    spread and the answer is False.

    Args:
        a (tuple): ``(mean, std)`` of the method that should be ahead.
        b (tuple): ``(mean, std)`` of the method it is compared with.

    Returns:
        bool: ``a_mean - b_mean > a_std + b_std``.
    """
    if a[1] is None or b[1] is None:
        return False
    return a[0] - b[0] > a[1] + b[1]


def check_seeds(seeds: Iterable[int]) -> List[int]:
    """The training seeds, refused with one line when one repeats."""
    seeds = list(seeds)
    for s in seeds:
        if seeds.count(s) > 1:
            raise ValueError(f'--seeds: seed {s} is given {seeds.count(s)} '
                             'times; expected distinct training seeds')
    return seeds
