"""PompOVCocoMetric: box and mask base/novel AP under their own names.

A hand-made case whose box and mask numbers differ: every box is exact (box
AP50 1 for both classes); the base class's mask is exact, the novel class's
covers a quarter of its object (mask IoU 0.25, so mask AP50 is 0 there).
"""
import json

import numpy as np
import pytest
import torch
from mmdet.evaluation import OVCocoMetric
from pycocotools import mask as mask_utils

from pomp_mm.det import PompOVCocoMetric

SIZE = 64
# (image, class, box x1 y1 x2 y2); class 1 'base', 2 'novel'
OBJECTS = [(1, 1, (4, 4, 36, 36)), (1, 2, (30, 30, 62, 62)),
           (2, 2, (8, 8, 40, 40)), (2, 1, (40, 2, 60, 30))]
META = dict(classes=('base', 'novel'), base_classes=('base', ),
            novel_classes=('novel', ))


def box_mask(box):
    m = np.zeros((SIZE, SIZE), np.uint8)
    x1, y1, x2, y2 = box
    m[y1:y2, x1:x2] = 1
    return m


@pytest.fixture(scope='module')
def ann_file(tmp_path_factory):
    anns = []
    for i, (img, cat, box) in enumerate(OBJECTS):
        rle = mask_utils.encode(np.asfortranarray(box_mask(box)))
        x1, y1, x2, y2 = box
        anns.append(dict(id=i + 1, image_id=img, category_id=cat,
                         bbox=[x1, y1, x2 - x1, y2 - y1],
                         area=(x2 - x1) * (y2 - y1), iscrowd=0,
                         segmentation=dict(size=[SIZE, SIZE],
                                           counts=rle['counts'].decode())))
    path = tmp_path_factory.mktemp('ovcoco') / 'instances.json'
    path.write_text(json.dumps(dict(
        images=[dict(id=i, width=SIZE, height=SIZE, file_name=f'{i}.png')
                for i in (1, 2)],
        annotations=anns,
        categories=[dict(id=1, name='base'), dict(id=2, name='novel')])))
    return str(path)


def predictions():
    samples = []
    for img in (1, 2):
        objs = [o for o in OBJECTS if o[0] == img]
        masks = []
        for _, cat, box in objs:
            m = box_mask(box)
            if cat == 2:  # the novel class: the top-left quarter only
                x1, y1, x2, y2 = box
                m = box_mask((x1, y1, (x1 + x2) // 2, (y1 + y2) // 2))
            masks.append(m)
        samples.append(dict(
            img_id=img, ori_shape=(SIZE, SIZE),
            pred_instances=dict(
                bboxes=torch.tensor([o[2] for o in objs], dtype=torch.float),
                scores=torch.tensor([0.9] * len(objs)),
                labels=torch.tensor([o[1] - 1 for o in objs]),
                masks=torch.from_numpy(np.stack(masks)).bool())))
    return samples


def evaluate(metric):
    metric.dataset_meta = META
    metric.process({}, predictions())
    return metric.evaluate(size=2)


def test_box_and_mask_split_numbers_keep_their_names(ann_file):
    both = evaluate(PompOVCocoMetric(ann_file=ann_file,
                                     metric=['bbox', 'segm']))
    box = evaluate(OVCocoMetric(ann_file=ann_file, metric='bbox'))
    mask = evaluate(OVCocoMetric(ann_file=ann_file, metric='segm'))
    # independent single-type runs of mmdet's metric
    assert box['coco/base_ap50'] == pytest.approx(1.0)
    assert box['coco/novel_ap50'] == pytest.approx(1.0)
    assert mask['coco/base_ap50'] == pytest.approx(1.0)
    assert mask['coco/novel_ap50'] == pytest.approx(0.0)
    for kind, single in (('bbox', box), ('segm', mask)):
        for split in ('base_ap50', 'novel_ap50', 'base_ap', 'novel_ap'):
            assert both[f'coco/{kind}_{split}'] == pytest.approx(
                single[f'coco/{split}'])
        assert both[f'coco/{kind}_mAP_50'] == single[f'coco/{kind}_mAP_50']
    # no unprefixed split key that could be read as the box number
    assert 'coco/novel_ap50' not in both
    # the trap it closes: mmdet's metric with both types reports the MASK
    # novel AP50 (0) as coco/novel_ap50
    trap = evaluate(OVCocoMetric(ann_file=ann_file, metric=['bbox', 'segm']))
    assert trap['coco/novel_ap50'] == pytest.approx(0.0)


def test_one_type_keeps_mmdet_keys(ann_file):
    got = evaluate(PompOVCocoMetric(ann_file=ann_file, metric='bbox'))
    want = evaluate(OVCocoMetric(ann_file=ann_file, metric='bbox'))
    assert got['coco/novel_ap50'] == got['coco/bbox_novel_ap50'] == \
        want['coco/novel_ap50']
    assert set(want) < set(got)
