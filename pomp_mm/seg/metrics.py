"""hIoU: the seen/unseen metric of open-vocabulary semantic segmentation.

Definitions follow ZSSeg's ``GeneralizedSemSegEvaluator``, which POMP reports:

* per-class IoU = TP / (GT + Pred - TP), counted over non-ignored pixels;
* mIoU(set) = sum of IoU over the classes of the set with GT > 0, divided by
  the number of classes of the set with GT + Pred > 0 (a class that is never
  in the ground truth but is predicted counts as IoU 0);
* hIoU = 2 / (1 / mIoU-seen + 1 / mIoU-unseen), 0 when either is 0.

Over all classes this mIoU equals mmseg's ``IoUMetric`` mIoU. The pixel
counts come from :meth:`IoUMetric.intersect_and_union`.
"""
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS
from prettytable import PrettyTable


def set_miou(iou: np.ndarray, area_label: np.ndarray,
             area_pred: np.ndarray, members: np.ndarray) -> float:
    """mIoU over a subset of classes, as ZSSeg computes it.

    Args:
        iou (np.ndarray): (C,) per-class IoU (any value where GT == 0).
        area_label (np.ndarray): (C,) ground-truth pixel counts.
        area_pred (np.ndarray): (C,) predicted pixel counts.
        members (np.ndarray): (C,) bool, the classes of the set.

    Returns:
        float: The set's mIoU in [0, 1]; NaN when no class of the set is in
        the ground truth or the predictions.
    """
    has_gt = members & (area_label > 0)
    valid = members & ((area_label + area_pred) > 0)
    if not valid.any():
        return float('nan')
    return float(iou[has_gt].sum() / valid.sum())


def harmonic_iou(miou_seen: float, miou_unseen: float) -> float:
    """Harmonic mean of two mIoUs (0 if either is 0, NaN if either is)."""
    if np.isnan(miou_seen) or np.isnan(miou_unseen):
        return float('nan')
    if miou_seen <= 0 or miou_unseen <= 0:
        return 0.0
    return 2.0 / (1.0 / miou_seen + 1.0 / miou_unseen)


@METRICS.register_module()
class HIoUMetric(IoUMetric):
    """mIoU of seen and unseen classes and their harmonic mean (hIoU).

    Reports ``mIoU`` (all classes), ``mIoU-seen``, ``mIoU-unseen`` and
    ``hIoU``, in percent, and logs a per-class table with each class's split.

    Args:
        unseen_classes (Sequence[str], optional): Names of the unseen classes;
            every other class of the dataset is seen. Defaults to None.
        seen_classes (Sequence[str], optional): Names of the seen classes;
            every other class is unseen. Give at most one of the two; with
            neither, the test set's ``metainfo['unseen_classes']`` is used
            (e.g. :class:`MiniWorldSegDataset`). Defaults to None.
        ignore_index (int): Label ignored in evaluation. Defaults to 255.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Metric name prefix. Defaults to None.
        **kwargs: Other :class:`IoUMetric` arguments (``output_dir``,
            ``format_only``).
    """

    def __init__(self,
                 unseen_classes: Optional[Sequence[str]] = None,
                 seen_classes: Optional[Sequence[str]] = None,
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 **kwargs) -> None:
        if unseen_classes is not None and seen_classes is not None:
            raise ValueError('HIoUMetric: give at most one of unseen_classes '
                             'and seen_classes')
        kwargs.pop('iou_metrics', None)
        super().__init__(ignore_index=ignore_index, iou_metrics=['mIoU'],
                         collect_device=collect_device, prefix=prefix,
                         **kwargs)
        self.unseen_classes = None if unseen_classes is None else \
            [str(c) for c in unseen_classes]
        self.seen_classes = None if seen_classes is None else \
            [str(c) for c in seen_classes]

    def seen_mask(self, class_names: Sequence[str]) -> np.ndarray:
        """(C,) bool: which of the dataset's classes are seen."""
        given = self.unseen_classes if self.unseen_classes is not None \
            else self.seen_classes
        key = 'unseen_classes' if self.unseen_classes is not None \
            else 'seen_classes'
        if given is None:
            given = (self.dataset_meta or {}).get('unseen_classes')
            key = "metainfo['unseen_classes']"
            if given is None:
                raise ValueError(
                    'HIoUMetric: no unseen_classes / seen_classes given and '
                    "the test dataset's metainfo has no 'unseen_classes'")
            given = [str(c) for c in given]
        missing = [c for c in given if c not in class_names]
        if missing:
            raise ValueError(
                f'HIoUMetric: {key} {missing} are not classes of the test '
                f'dataset (metainfo["classes"] has {len(class_names)} names, '
                f'e.g. {list(class_names[:3])})')
        listed = np.array([c in set(given) for c in class_names])
        return listed if self.seen_classes is not None else ~listed

    @staticmethod
    def hiou_from_areas(area_intersect: torch.Tensor,
                        area_union: torch.Tensor,
                        area_pred: torch.Tensor,
                        area_label: torch.Tensor,
                        seen: np.ndarray) -> Dict[str, object]:
        """mIoU / mIoU-seen / mIoU-unseen / hIoU (fractions) from areas.

        Args:
            area_intersect (Tensor): (C,) TP pixels per class.
            area_union (Tensor): (C,) GT + Pred - TP per class.
            area_pred (Tensor): (C,) predicted pixels per class.
            area_label (Tensor): (C,) ground-truth pixels per class.
            seen (np.ndarray): (C,) bool, the seen classes.

        Returns:
            dict: ``'mIoU'``, ``'mIoU-seen'``, ``'mIoU-unseen'``, ``'hIoU'``
            as floats in [0, 1] and ``'IoU'``, the (C,) per-class IoU (NaN
            where the class is in neither GT nor prediction).
        """
        inter = np.asarray(area_intersect, dtype=np.float64)
        union = np.asarray(area_union, dtype=np.float64)
        pred = np.asarray(area_pred, dtype=np.float64)
        label = np.asarray(area_label, dtype=np.float64)
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = inter / union
        seen = np.asarray(seen, dtype=bool)
        every = np.ones_like(seen)
        seen_miou = set_miou(iou, label, pred, seen)
        unseen_miou = set_miou(iou, label, pred, ~seen)
        return {
            'mIoU': set_miou(iou, label, pred, every),
            'mIoU-seen': seen_miou,
            'mIoU-unseen': unseen_miou,
            'hIoU': harmonic_iou(seen_miou, unseen_miou),
            'IoU': iou,
        }

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics from the per-image areas.

        Args:
            results (list): ``(intersect, union, pred, label)`` per image, as
                :meth:`IoUMetric.process` stores them.

        Returns:
            dict[str, float]: ``mIoU``, ``mIoU-seen``, ``mIoU-unseen``,
            ``hIoU`` in percent (2 decimals).
        """
        logger: MMLogger = MMLogger.get_current_instance()
        if self.format_only:
            return OrderedDict()
        class_names = list(self.dataset_meta['classes'])
        seen = self.seen_mask(class_names)
        areas = [sum(r) for r in zip(*results)]
        out = self.hiou_from_areas(*areas, seen=seen)
        table = PrettyTable()
        table.add_column('Class', class_names)
        table.add_column('split', ['seen' if s else 'unseen' for s in seen])
        table.add_column('IoU', np.round(out.pop('IoU') * 100, 2).tolist())
        print_log('per class results:', logger)
        print_log('\n' + table.get_string(), logger=logger)
        return {k: float(np.round(v * 100, 2)) for k, v in out.items()}
