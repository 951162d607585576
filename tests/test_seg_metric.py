"""hIoU metric and the CLIP ensemble, checked against hand computations."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.evaluation import IoUMetric
from mmseg.structures import SegDataSample

from pomp_mm.seg import HIoUMetric, clip_ensemble
from pomp_mm.seg.splits import (COCO_STUFF_SEEN, COCO_STUFF_UNSEEN, VOC_SEEN,
                                VOC_UNSEEN)

CLASSES = ('a', 'b', 'c', 'd', 'e')


def _sample(pred, gt):
    s = SegDataSample()
    s.pred_sem_seg = PixelData(data=torch.tensor(pred)[None])
    s.gt_sem_seg = PixelData(data=torch.tensor(gt)[None])
    return s.to_dict()


def _run(metric, pairs, classes=CLASSES):
    metric.dataset_meta = dict(classes=classes)
    metric.process({}, [_sample(p, g) for p, g in pairs])
    return metric.evaluate(len(pairs))


# Two images over 5 classes: seen = a, b, c; unseen = d, e. 255 is ignored.
PAIRS = [
    ([[0, 0, 1, 1],
      [0, 2, 1, 3],
      [3, 3, 3, 3]],
     [[0, 0, 1, 1],
      [0, 0, 1, 1],
      [3, 3, 255, 255]]),
    ([[0, 3, 3, 0]],
     [[0, 3, 3, 3]]),
]
# Hand counts over non-ignored pixels (the two 255 pixels drop 2 d preds):
#   a: TP 4, GT 5, Pred 5 -> IoU 4/6;  b: TP 3, GT 4, Pred 3 -> IoU 3/4
#   c: TP 0, GT 0, Pred 1 -> IoU 0, counted in the denominator only
#   d: TP 4, GT 5, Pred 5 -> IoU 4/6;  e: no GT, no pred -> not counted
IOU_A, IOU_B, IOU_C, IOU_D = 4 / 6, 3 / 4, 0.0, 4 / 6


def test_hiou_hand_computed():
    seen = (IOU_A + IOU_B + IOU_C) / 3  # c: Pred > 0, GT = 0
    unseen = IOU_D / 1                  # e: neither -> not counted
    hiou = 2 / (1 / seen + 1 / unseen)
    out = _run(HIoUMetric(unseen_classes=['d', 'e']), PAIRS)
    assert out['mIoU-seen'] == pytest.approx(100 * seen, abs=0.006)
    assert out['mIoU-unseen'] == pytest.approx(100 * unseen, abs=0.006)
    assert out['hIoU'] == pytest.approx(100 * hiou, abs=0.006)
    assert out['mIoU'] == pytest.approx(
        100 * (IOU_A + IOU_B + IOU_C + IOU_D) / 4, abs=0.006)
    # the same split given as seen classes
    same = _run(HIoUMetric(seen_classes=['a', 'b', 'c']), PAIRS)
    assert same == out


def test_hiou_agrees_with_mmseg_iou_metric():
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(3):
        gt = rng.integers(0, 5, (6, 7))
        gt[gt == 4] = 255  # class e never in GT
        pred = rng.integers(0, 5, (6, 7))
        pairs.append((pred.tolist(), gt.tolist()))
    ours = _run(HIoUMetric(unseen_classes=['c', 'e']), pairs)
    ref = _run(IoUMetric(), pairs)
    assert ours['mIoU'] == pytest.approx(ref['mIoU'], abs=0.006)
    # per-set mIoU = nanmean of mmseg's per-class IoU over the set
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=CLASSES)
    areas = [metric.intersect_and_union(torch.tensor(p), torch.tensor(g), 5,
                                        255) for p, g in pairs]
    areas = [sum(a) for a in zip(*areas)]
    iou = IoUMetric.total_area_to_metrics(*areas, ['mIoU'])['IoU']
    seen = np.array([True, True, False, True, False])
    assert ours['mIoU-seen'] == pytest.approx(
        100 * np.nanmean(iou[seen]), abs=0.006)
    assert ours['mIoU-unseen'] == pytest.approx(
        100 * np.nanmean(iou[~seen]), abs=0.006)


def test_hiou_zero_and_errors():
    perfect_seen = [([[0, 0, 3]], [[0, 0, 1]])]  # unseen b: IoU 0
    out = _run(HIoUMetric(unseen_classes=['b']), perfect_seen)
    assert out['mIoU-unseen'] == 0.0 and out['hIoU'] == 0.0
    with pytest.raises(ValueError, match='at most one'):
        HIoUMetric(unseen_classes=['b'], seen_classes=['a'])
    with pytest.raises(ValueError, match="metainfo has no 'unseen_classes'"):
        _run(HIoUMetric(), perfect_seen)
    # the split may come from the dataset's metainfo instead
    metric = HIoUMetric()
    metric.dataset_meta = dict(classes=CLASSES, unseen_classes=['b'])
    metric.process({}, [_sample(p, g) for p, g in perfect_seen])
    assert metric.evaluate(1) == out
    with pytest.raises(ValueError, match=r"\['zebra'\] are not classes"):
        _run(HIoUMetric(unseen_classes=['zebra']), perfect_seen)


def test_protocol_splits():
    assert len(VOC_SEEN) == 15 and len(VOC_UNSEEN) == 5
    assert len(COCO_STUFF_SEEN) == 156 and len(COCO_STUFF_UNSEEN) == 15
    assert not set(VOC_SEEN) & set(VOC_UNSEEN)
    assert 'background' not in VOC_SEEN


def test_clip_ensemble_formula():
    p_mask = torch.tensor([[0.6, 0.3, 0.1]])
    p_clip = torch.tensor([[0.2, 0.2, 0.6]])
    seen = torch.tensor([True, True, False])
    out = clip_ensemble(p_mask, p_clip, seen, lam=0.7)
    expected = [0.6**0.7 * 0.2**0.3, 0.3**0.7 * 0.2**0.3,
                0.1**0.3 * 0.6**0.7]
    assert out[0].tolist() == pytest.approx(expected, rel=1e-5)
    # no seen classes (cross-dataset): every class takes the unseen formula
    allu = clip_ensemble(p_mask, p_clip, None, lam=0.5)
    assert allu[0].tolist() == pytest.approx(
        (p_mask * p_clip).sqrt()[0].tolist(), rel=1e-5)
    with pytest.raises(ValueError, match='lam=1.5'):
        clip_ensemble(p_mask, p_clip, seen, lam=1.5)
