# Copyright (c) pomp_mm contributors. All rights reserved.
"""Deterministic few-shot subsets, optionally cached as JSON.

The subset depends only on the *set* of samples, ``num_shots`` and ``seed``:
the input is sorted first and a local ``random.Random(seed)`` is used (never
the global RNG), so every rank of a distributed job computes the identical
subset without communicating. The selection rule is Dassl's
``generate_fewshot_dataset``: labels in sorted order, ``random.sample`` of
``min(num_shots, available)`` items per label.
"""
import json
import logging
import os.path as osp
import random
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.logging import print_log

from pomp_mm.core.checkpoint import atomic_write

Sample = Tuple[str, int]


def _check_num_shots(num_shots: int) -> None:
    """Raise ``ValueError`` unless ``num_shots`` is a positive int.

    Args:
        num_shots (int): Images per class.
    """
    if isinstance(num_shots, bool) or not isinstance(num_shots, int) \
            or num_shots < 1:
        raise ValueError(f'num_shots must be a positive int or None, got '
                         f'{num_shots!r}')


def _group_by_label(samples: Sequence[Sample]) -> Dict[int, List[str]]:
    """Group sample paths by label, each group sorted.

    Args:
        samples (Sequence[tuple[str, int]]): ``(path, label)`` pairs.

    Returns:
        dict[int, list[str]]: label -> sorted paths.
    """
    groups: Dict[int, List[str]] = defaultdict(list)
    for path, label in samples:
        groups[int(label)].append(path)
    for paths in groups.values():
        paths.sort()
    return groups


def fewshot_subset(samples: Sequence[Sample], num_shots: int,
                   seed: int) -> List[Sample]:
    """Pick ``num_shots`` samples per class, deterministically.

    Args:
        samples (Sequence[tuple[str, int]]): ``(path, label)`` pairs in any
            order. Use paths relative to the dataset root so the subset does
            not depend on where the data is mounted.
        num_shots (int): Samples per class; a class with fewer keeps all.
        seed (int): Seed of the local RNG.

    Returns:
        list[tuple[str, int]]: The subset, sorted by ``(label, path)``.
    """
    _check_num_shots(num_shots)
    rng = random.Random(seed)
    groups = _group_by_label(samples)
    subset: List[Sample] = []
    for label in sorted(groups):
        paths = groups[label]
        picked = rng.sample(paths, min(num_shots, len(paths)))
        subset.extend((path, label) for path in picked)
    return sorted(subset, key=lambda s: (s[1], s[0]))


def fewshot_cache_name(num_shots: int, seed: int) -> str:
    """File name of a cached subset.

    Args:
        num_shots (int): Samples per class.
        seed (int): RNG seed.

    Returns:
        str: ``'shot_{num_shots}-seed_{seed}.json'``.
    """
    return f'shot_{num_shots}-seed_{seed}.json'


def _read_cache(cache_file: str, n_total: int, num_shots: int,
                seed: int) -> Optional[List[Sample]]:
    """Read a cached subset if it exists and matches the parameters.

    Args:
        cache_file (str): The JSON file.
        n_total (int): Number of samples the subset was drawn from.
        num_shots (int): Samples per class.
        seed (int): RNG seed.

    Returns:
        list[tuple[str, int]] | None: The cached subset, or None when there
        is no usable cache.
    """
    if not osp.isfile(cache_file):
        return None
    try:
        with open(cache_file, encoding='utf-8') as f:
            data = json.load(f)
        params = (data['n_total'], data['num_shots'], data['seed'])
        samples = [(str(path), int(label)) for path, label in data['samples']]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print_log(
            f'few-shot cache {cache_file} is unreadable ({e}); '
            'recomputing it',
            logger='current',
            level=logging.WARNING)
        return None
    if params != (n_total, num_shots, seed):
        print_log(
            f'few-shot cache {cache_file} was made for (n_total, '
            f'num_shots, seed)={params}, not {(n_total, num_shots, seed)}'
            '; recomputing it',
            logger='current',
            level=logging.WARNING)
        return None
    return samples


def _write_cache_atomic(cache_file: str, payload: dict) -> None:
    """Write JSON to a temp file next to ``cache_file``, then rename it.

    ``os.replace`` is atomic, so concurrent writers (several ranks) and
    readers never see a half-written file.

    Args:
        cache_file (str): Destination path.
        payload (dict): JSON-serialisable content.

    Raises:
        OSError: If the directory cannot be created or written.
    """
    atomic_write(cache_file,
                 lambda f: f.write(json.dumps(payload).encode('utf-8')))


def cached_fewshot_subset(samples: Sequence[Sample], num_shots: int, seed: int,
                          cache_file: Optional[str]) -> List[Sample]:
    """:func:`fewshot_subset` with a JSON cache.

    The cache ``{num_shots, seed, n_total, samples: [[path, label], ...]}`` is
    reused when it exists and its ``n_total``, ``num_shots`` and ``seed``
    match; otherwise the subset is recomputed and the cache rewritten
    atomically. When the cache cannot be written (read-only data root) a
    warning is logged and the computed subset is returned.

    Args:
        samples (Sequence[tuple[str, int]]): ``(path, label)`` pairs.
        num_shots (int): Samples per class.
        seed (int): RNG seed.
        cache_file (str, optional): The JSON file; None disables caching.

    Returns:
        list[tuple[str, int]]: The subset, sorted by ``(label, path)``.
    """
    _check_num_shots(num_shots)
    if cache_file is None:
        return fewshot_subset(samples, num_shots, seed)
    cached = _read_cache(cache_file, len(samples), num_shots, seed)
    if cached is not None:
        return cached
    subset = fewshot_subset(samples, num_shots, seed)
    payload = dict(
        num_shots=num_shots,
        seed=seed,
        n_total=len(samples),
        samples=[[path, label] for path, label in subset])
    try:
        _write_cache_atomic(cache_file, payload)
    except OSError as e:
        print_log(
            f'cannot write few-shot cache {cache_file} ({e}); '
            'continuing without a cache',
            logger='current',
            level=logging.WARNING)
    return subset
