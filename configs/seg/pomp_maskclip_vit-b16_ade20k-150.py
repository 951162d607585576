# Cross-dataset test on ADE20K-150 (every class unseen): the vocabulary is the
# test set's 150 class names (VocabularyHook), nothing else changes.
#   python tools/test.py THIS_CONFIG work_dirs/<coco stage 1>/prompt_latest.pth
_base_ = [
    'mmseg::_base_/datasets/ade20k.py', '_base_/pomp_seg_runtime.py',
    '_base_/pomp_maskclip.py'
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 448), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(num_workers=2, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# test only
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
