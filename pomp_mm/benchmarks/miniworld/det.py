# Copyright (c) pomp_mm contributors. All rights reserved.
"""The mini-world's detection scenes as an mmdet dataset.

Importing this module registers ``MiniWorldCocoDataset`` in mmdet's
``DATASETS``; a config adds ``'pomp_mm.benchmarks.miniworld.det'`` to its
``custom_imports``.
"""
import os.path as osp

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from pomp_mm.apis.visualization import palette
from pomp_mm.core.vocabulary import read_vocabulary_file

__all__ = ['MiniWorldCocoDataset']


@DATASETS.register_module()
class MiniWorldCocoDataset(CocoDataset):
    """Mini-world scenes written by :func:`.export.export_scenes`.

    mmdet's ``CocoDataset`` on the export's ``instances_SPLIT.json``, with the
    classes from its ``classes.json``: ``subset='seen'`` keeps the seen
    (base) classes only, so boxes of unseen classes are dropped as OV-COCO
    drops its novel boxes in training; ``subset='all'`` also sets
    ``base_classes`` / ``novel_classes`` for mmdet's ``OVCocoMetric``.

    Args:
        data_root (str): The export folder.
        split (str): ``'train'`` or ``'test'`` (any exported split).
            Defaults to ``'test'``.
        subset (str): ``'seen'`` or ``'all'``. Defaults to ``'all'``.
        **kwargs: Other ``CocoDataset`` arguments (``pipeline``,
            ``filter_cfg``, ``return_classes``, ...).
    """

    def __init__(self, data_root: str, split: str = 'test',
                 subset: str = 'all', **kwargs) -> None:
        if subset not in ('seen', 'all'):
            raise ValueError(f"subset={subset!r}: expected 'seen' or 'all'")
        meta = read_vocabulary_file(data_root)
        ann_file = f'instances_{split}.json'
        if not osp.isfile(osp.join(data_root, ann_file)):
            raise FileNotFoundError(
                f'{osp.join(data_root, ann_file)} not found: the export at '
                f'{data_root} has no {split!r} split')
        classes = meta['seen'] if subset == 'seen' else meta['classes']
        # a colour per class for any vocabulary size: COCO's 80 colours
        # made mmdet's visualizer fail on the 200 mini-world classes
        metainfo = dict(kwargs.pop('metainfo', None) or {}, classes=classes,
                        base_classes=meta['seen'],
                        novel_classes=meta['unseen'],
                        palette=palette(len(classes)))
        super().__init__(data_root=data_root, ann_file=ann_file,
                         data_prefix=dict(img=f'images/{split}/'),
                         metainfo=metainfo, **kwargs)
