# Cross-dataset: train on all of LVIS v1, test on Objects365 v2 val (365
# class names from the test set). Paper (Detic + POMP): AP50 23.4.
_base_ = [
    './ov-lvis_pomp_faster-rcnn_r50_fpn_2x.py',
    './_base_/cross-dataset_test-sets.py'
]

train_dataloader = dict(
    dataset=dict(dataset=dict(ann_file=_base_.lvis_all_ann)))
val_dataloader = dict(dataset=_base_.o365_val_set)
test_dataloader = val_dataloader
val_evaluator = _base_.o365_val_metric
test_evaluator = val_evaluator
