# Cross-dataset: train on all of LVIS v1 (boxes of every class), test on
# COCO val2017. Only the config changes: the test set's 80 class names
# become the classifier (return_classes=True -> data_sample.text).
# Paper (Detic + POMP): AP50 58.0.
_base_ = [
    './ov-lvis_pomp_faster-rcnn_r50_fpn_2x.py',
    './_base_/cross-dataset_test-sets.py'
]

train_dataloader = dict(
    dataset=dict(dataset=dict(ann_file=_base_.lvis_all_ann)))
val_dataloader = dict(dataset=_base_.coco_val_set)
test_dataloader = val_dataloader
val_evaluator = _base_.coco_val_metric
test_evaluator = val_evaluator
