# ImageNetV2 (matched frequency): 1000 classes, named with CLIP's curated
# ImageNet class names (pomp_mm/cls/classnames/imagenet.txt; pass
# classnames_file= to use CoOp's classnames.txt instead).
# Layout (docs/classification.md):
#   data/imagenetv2/imagenetv2-matched-frequency-format-val/<0..999>/*.jpeg
_base_ = ['./clip_pipeline.py']

data_root = 'data/imagenetv2'
num_classes = 1000
clip_template = 'a photo of a {}.'  # CoOp's CLIP template
test_dataset = dict(
    type='ImageNetFolderDataset', data_root=data_root,
    data_prefix='imagenetv2-matched-frequency-format-val',
    folder_names='index', pipeline=_base_.test_pipeline)
