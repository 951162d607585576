# Copyright (c) pomp_mm contributors. All rights reserved.
"""mmdet's ``OVCocoMetric`` with base / novel AP for boxes *and* masks.

mmdet 3.3's ``OVCocoMetric`` writes its ``base_ap50`` / ``novel_ap50`` (and
``base_ap`` / ``novel_ap``) without the IoU type, so with
``metric=['bbox', 'segm']`` the mask numbers silently overwrite the box ones:
``coco/novel_ap50`` is then mask AP50, under the name of the box metric.
:class:`PompOVCocoMetric` evaluates each IoU type in turn and names every
split number after its type.
"""
from typing import Dict, List

from mmdet.evaluation import OVCocoMetric
from mmdet.registry import METRICS

#: the keys mmdet's OVCocoMetric writes without the IoU type
SPLIT_KEYS = ('base_ap', 'novel_ap', 'base_ap50', 'novel_ap50')


@METRICS.register_module()
class PompOVCocoMetric(OVCocoMetric):
    """``OVCocoMetric`` whose base / novel numbers carry their IoU type.

    Reports ``{type}_base_ap50``, ``{type}_novel_ap50``, ``{type}_base_ap``
    and ``{type}_novel_ap`` for each ``type`` of ``metric`` (``'bbox'``,
    ``'segm'``), beside mmdet's own ``{type}_mAP`` ... keys. With a single
    type it also keeps mmdet's unprefixed keys (the same numbers), so a
    box-only config reads as under ``OVCocoMetric``. Arguments are
    ``OVCocoMetric``'s.
    """

    def compute_metrics(self, results: List) -> Dict[str, float]:
        metrics = list(self.metrics)
        out = {}
        try:
            for metric in metrics:
                self.metrics = [metric]
                part = super().compute_metrics(results)
                for key, value in part.items():
                    if key in SPLIT_KEYS:
                        out[f'{metric}_{key}'] = value
                        if len(metrics) == 1:
                            out[key] = value
                    else:
                        out[key] = value
        finally:
            self.metrics = metrics
        return out
