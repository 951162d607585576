# Copyright (c) pomp_mm contributors. All rights reserved.
"""Mixed box / image-label batches with an epoch."""
import itertools
import math
from typing import Iterator

from mmdet.datasets.samplers import MultiSourceSampler
from mmdet.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class MultiSourceEpochSampler(MultiSourceSampler):
    """mmdet's ``MultiSourceSampler`` whose epoch is one pass over the first
    source.

    Every batch holds ``num_per_source`` images of each source of a
    ``ConcatDataset`` (e.g. 8 box-labelled scenes + 4 image-labelled
    images for ``batch_size=12, source_ratio=[2, 1]``), as in mmdet. mmdet's
    sampler is infinite (it is made for ``IterBasedTrainLoop``), so an
    ``EpochBasedTrainLoop`` would never end an epoch. Here an epoch is as
    many batches as the first source needs for one pass at its share,
    ``ceil(ceil(len(first) / world_size) / num_per_source[0])``: the box
    images of an epoch are as many as a ``DefaultSampler`` epoch of the box
    set alone at batch size ``num_per_source[0]``, so an epoch-based
    schedule means the same number of box steps with or without the other
    sources. Each source's stream continues across epochs (mmdet's
    infinite shuffles, seeded once).

    Args:
        *args: ``MultiSourceSampler`` arguments (``dataset``,
            ``batch_size``, ``source_ratio``, ``shuffle``, ``seed``).
        **kwargs: ``MultiSourceSampler`` keyword arguments.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stream = super().__iter__()

    def __len__(self) -> int:
        first = math.ceil(len(self.dataset.datasets[0]) / self.world_size)
        return math.ceil(first / self.num_per_source[0]) * self.batch_size

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(self._stream, len(self))
