# Cross-dataset: train on all of LVIS v1, test on Objects365 v2 val (365
# class names from the test set). Paper (Detic + POMP): AP50 23.4.
_base_ = './ov-lvis_pomp_faster-rcnn_r50_fpn_2x.py'

train_dataloader = dict(
    dataset=dict(dataset=dict(ann_file='annotations/lvis_v1_train.json')))

o365_root = 'data/Objects365/Obj365_v2/'
val_dataloader = dict(
    dataset=dict(
        type='Objects365V2Dataset',
        data_root=o365_root,
        ann_file='annotations/zhiyuan_objv2_val.json',
        data_prefix=dict(img='val/')))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric',
    ann_file=o365_root + 'annotations/zhiyuan_objv2_val.json',
    metric='bbox')
test_evaluator = val_evaluator
