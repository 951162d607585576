"""Seen/unseen class splits of the open-vocabulary segmentation protocol.

The splits are those of ZSSeg, which POMP reports on
(``mask_former/data/datasets/register_*.py``): Pascal VOC 15 seen / 5 unseen
and COCO-Stuff 156 seen / 15 unseen. Class names are spelled as in mmseg's
``PascalVOCDataset`` / ``COCOStuffDataset`` metainfo, so a dataset config can
restrict itself to a split with ``metainfo=dict(classes=...)`` and mmseg maps
every other class to :data:`IGNORE_INDEX` (255).
"""
from typing import Sequence, Tuple

from mmseg.datasets import COCOStuffDataset, PascalVOCDataset

#: Label of ignored pixels in a semantic mask (mmseg's ``ignore_index``):
#: background in the protocol, and every class outside a dataset's
#: ``metainfo['classes']``.
IGNORE_INDEX = 255

#: The 20 VOC object classes (mmseg's list without ``'background'``, which
#: the protocol ignores).
VOC_CLASSES: Tuple[str, ...] = tuple(PascalVOCDataset.METAINFO['classes'][1:])
VOC_UNSEEN: Tuple[str, ...] = ('pottedplant', 'sheep', 'sofa', 'train',
                               'tvmonitor')
#: All 171 COCO-Stuff-164k classes (80 things + 91 stuff).
COCO_STUFF_CLASSES: Tuple[str, ...] = tuple(
    COCOStuffDataset.METAINFO['classes'])
COCO_STUFF_UNSEEN: Tuple[str, ...] = (
    'cow', 'giraffe', 'suitcase', 'frisbee', 'skateboard', 'carrot',
    'scissors', 'cardboard', 'clouds', 'grass', 'playingfield', 'river',
    'road', 'tree', 'wall-concrete')


def seen_classes(classes: Sequence[str],
                 unseen: Sequence[str]) -> Tuple[str, ...]:
    """The classes of ``classes`` not in ``unseen``, in order.

    Args:
        classes (Sequence[str]): All class names of a dataset.
        unseen (Sequence[str]): The unseen class names.

    Returns:
        tuple[str]: The seen classes.
    """
    missing = [c for c in unseen if c not in classes]
    if missing:
        raise ValueError(f'unseen classes {missing} are not in the dataset '
                         f'classes ({len(classes)} names)')
    return tuple(c for c in classes if c not in set(unseen))


VOC_SEEN: Tuple[str, ...] = seen_classes(VOC_CLASSES, VOC_UNSEEN)
COCO_STUFF_SEEN: Tuple[str, ...] = seen_classes(COCO_STUFF_CLASSES,
                                                COCO_STUFF_UNSEEN)

#: λ of the CLIP ensemble per target dataset (ZSSeg/POMP official configs).
ENSEMBLE_LAMBDA = {'coco_stuff': 0.8, 'voc': 0.7, 'ade20k': 0.5,
                   'pascal_context59': 0.2}
