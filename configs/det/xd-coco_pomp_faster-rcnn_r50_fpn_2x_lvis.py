# Cross-dataset: train on all of LVIS v1 (boxes of every class), test on
# COCO val2017. Only the config changes: the test set's 80 class names
# become the classifier (return_classes=True -> data_sample.text).
# Paper (Detic + POMP): AP50 58.0.
_base_ = './ov-lvis_pomp_faster-rcnn_r50_fpn_2x.py'

train_dataloader = dict(
    dataset=dict(dataset=dict(ann_file='annotations/lvis_v1_train.json')))

coco_root = 'data/coco/'
val_dataloader = dict(
    dataset=dict(
        type='CocoDataset',
        data_root=coco_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/')))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric',
    ann_file=coco_root + 'annotations/instances_val2017.json',
    metric='bbox')
test_evaluator = val_evaluator
