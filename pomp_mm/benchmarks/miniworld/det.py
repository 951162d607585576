# Copyright (c) pomp_mm contributors. All rights reserved.
"""The mini-world's detection scenes, and its image-labelled images, as
mmdet datasets.

Importing this module registers ``MiniWorldCocoDataset`` and
``MiniWorldImageLabelDataset`` in mmdet's ``DATASETS``; a config adds ``'pomp_mm.benchmarks.miniworld.det'`` to its
``custom_imports``.
"""
import os.path as osp

from typing import List

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from pomp_mm.det.datasets import ImageLabelDataset

from pomp_mm.apis.visualization import palette
from pomp_mm.core.vocabulary import read_vocabulary_file

__all__ = ['MiniWorldCocoDataset', 'MiniWorldImageLabelDataset']


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
        boxes (str): Whose boxes are kept: ``'subset'`` (the classes of
            ``subset``) or ``'seen'``. Defaults to ``'subset'``.
        **kwargs: Other ``CocoDataset`` arguments (``pipeline``,
            ``filter_cfg``, ``return_classes``, ...).
    """

    def __init__(self, data_root: str, split: str = 'test',
                 subset: str = 'all', boxes: str = 'subset',
                 **kwargs) -> None:
        if subset not in ('seen', 'all'):
            raise ValueError(f"subset={subset!r}: expected 'seen' or 'all'")
        if boxes not in ('subset', 'seen'):
            raise ValueError(f"boxes={boxes!r}: expected 'subset' or 'seen'")
        meta = read_vocabulary_file(data_root)
        # the categories whose boxes are kept (None: all of the vocabulary)
        self._box_names = meta['seen'] if boxes == 'seen' else None
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

    def _box_cat_ids(self) -> List[int]:
        # label i is classes[i] and category cat_ids[i] (mmdet's mapping)
        names = set(self._box_names)
        return [c for c, n in zip(self.cat_ids, self.metainfo['classes'])
                if n in names]

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """mmdet's, then (``boxes='seen'``) only the seen classes' boxes."""
        info = super().parse_data_info(raw_data_info)
        if self._box_names is not None:
            keep = {self.cat2label[c] for c in self._box_cat_ids()}
            info['instances'] = [i for i in info['instances']
                                 if i['bbox_label'] in keep]
        return info

    def filter_data(self) -> List[dict]:
        """mmdet's filter; ``filter_empty_gt`` counts the kept boxes only,
        so ``boxes='seen'`` keeps the images of ``subset='seen'``."""
        if self._box_names is None:
            return super().filter_data()
        cat_ids, self.cat_ids = self.cat_ids, self._box_cat_ids()
        try:
            return super().filter_data()
        finally:
            self.cat_ids = cat_ids


@DATASETS.register_module()
class MiniWorldImageLabelDataset(ImageLabelDataset):
    """The image-labelled set of :func:`.export.export_image_labels`:
    single-object images of a target's classes (seen and unseen), each with
    its class as the image label, Detic's ImageNet-LVIS in miniature.

    :class:`~pomp_mm.det.ImageLabelDataset` on ``image_labels.json``, with
    the target's classes (seen then unseen, the scenes' order) read from the
    export's ``classes.json``, and the same metainfo as
    ``MiniWorldCocoDataset(subset='all')``, so the two concatenate.

    Args:
        data_root (str): The export folder.
        **kwargs: Other ``ImageLabelDataset`` arguments (``pipeline``,
            ``filter_cfg``, ...).
    """

    def __init__(self, data_root: str, **kwargs) -> None:
        meta = read_vocabulary_file(data_root)
        classes = meta['classes']
        metainfo = dict(kwargs.pop('metainfo', None) or {}, classes=classes,
                        base_classes=meta['seen'],
                        novel_classes=meta['unseen'],
                        palette=palette(len(classes)))
        super().__init__(data_root=data_root, ann_file='image_labels.json',
                         data_prefix=dict(img='images/'), metainfo=metainfo,
                         **kwargs)
