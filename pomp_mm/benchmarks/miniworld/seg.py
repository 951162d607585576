"""The mini-world's segmentation scenes as an mmseg dataset.

Importing this module registers ``MiniWorldSegDataset`` in mmseg's
``DATASETS``; a config adds ``'pomp_mm.benchmarks.miniworld.seg'`` to its
``custom_imports``.
"""
import os.path as osp

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from pomp_mm.apis.visualization import palette
from pomp_mm.core.vocabulary import read_vocabulary_file
from pomp_mm.seg.splits import IGNORE_INDEX

__all__ = ['MiniWorldSegDataset']


@DATASETS.register_module()
class MiniWorldSegDataset(BaseSegDataset):
    """Mini-world scenes written by :func:`.export.export_scenes`.

    The classes, and which of them are unseen, come from the export's
    ``classes.json``; they go into ``metainfo`` (``classes``,
    ``seen_classes``, ``unseen_classes``), where
    :class:`~pomp_mm.seg.HIoUMetric` and ``VocabularyHook`` find them.
    Background pixels (255) are ignored.

    Args:
        data_root (str): The export folder.
        split (str): Which split to read (``images/SPLIT``,
            ``annotations/SPLIT``). Defaults to ``'test'``.
        **kwargs: Other :class:`~mmseg.datasets.BaseSegDataset` arguments
            (``pipeline``, ``test_mode``, ...).
    """

    def __init__(self, data_root: str, split: str = 'test', **kwargs) -> None:
        meta = read_vocabulary_file(data_root)
        img_dir = osp.join(data_root, 'images', split)
        if not osp.isdir(img_dir):
            raise FileNotFoundError(
                f'{img_dir} not found: the export at {data_root} has no '
                f'{split!r} split')
        kwargs.setdefault('metainfo', {})
        # a colour per class for any vocabulary size (mmseg's visualizer)
        kwargs['metainfo'] = dict(kwargs['metainfo'], classes=meta['classes'],
                                  seen_classes=meta['seen'],
                                  unseen_classes=meta['unseen'],
                                  palette=palette(len(meta['classes'])))
        super().__init__(
            data_root=data_root,
            data_prefix=dict(img_path=f'images/{split}',
                             seg_map_path=f'annotations/{split}'),
            img_suffix='.png', seg_map_suffix='.png',
            ignore_index=IGNORE_INDEX, reduce_zero_label=False, **kwargs)
