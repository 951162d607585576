# The cross-dataset test sets of Detic and POMP (pomp_spec.md §5c): a
# detector trained on all of LVIS v1 is tested on COCO val2017 (80 classes)
# and Objects365 v2 val (365 classes) with each test set's class names as
# the classifier (return_classes=True -> data_sample.text), box AP50.
# Paper (Detic + POMP): COCO 58.0, Objects365 23.4. Not a config on its
# own: the xd-* configs take the sets and metrics from here.
lvis_all_ann = 'annotations/lvis_v1_train.json'  # under data/lvis_v1/

coco_root = 'data/coco/'
coco_val_set = dict(
    type='CocoDataset',
    data_root=coco_root,
    ann_file='annotations/instances_val2017.json',
    data_prefix=dict(img='val2017/'))
coco_val_metric = dict(
    type='CocoMetric',
    ann_file=coco_root + 'annotations/instances_val2017.json',
    metric='bbox')

o365_root = 'data/Objects365/Obj365_v2/'
o365_val_set = dict(
    type='Objects365V2Dataset',
    data_root=o365_root,
    ann_file='annotations/zhiyuan_objv2_val.json',
    data_prefix=dict(img='val/'))
o365_val_metric = dict(
    type='CocoMetric',
    ann_file=o365_root + 'annotations/zhiyuan_objv2_val.json',
    metric='bbox')

# Both in one test run, as Detic tests one model on both: mmdet's
# ConcatDataset and MultiDatasetsEvaluator (metrics coco/... and o365/...).
# Boxes only (Objects365 has no masks), 640 px as the LVIS CenterNet2
# configs test; test batches must not mix the two sets (batch 1, the
# detector refuses a mixed batch).
cross_dataset_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(640, 640), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'text', 'custom_entities'))
]
coco_and_o365_test_set = dict(
    type='ConcatDataset',
    datasets=[
        dict(s, pipeline=cross_dataset_test_pipeline, return_classes=True)
        for s in (coco_val_set, o365_val_set)
    ])
coco_and_o365_metric = dict(
    type='MultiDatasetsEvaluator',
    metrics=[coco_val_metric, o365_val_metric],
    dataset_prefixes=['coco', 'o365'])
