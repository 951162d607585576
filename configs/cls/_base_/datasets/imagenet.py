# ImageNet-1K: 1000 classes, named with CLIP's curated ImageNet class names
# (pomp_mm/cls/classnames/imagenet.txt; pass classnames_file= to use CoOp's
# classnames.txt instead). Layout (docs/classification.md):
#   data/imagenet/images/train/<wnid>/*.JPEG
#   data/imagenet/images/val/<wnid>/*.JPEG (val sorted into class folders)
_base_ = ['./clip_pipeline.py']

data_root = 'data/imagenet'
num_classes = 1000
clip_template = 'a photo of a {}.'  # CoOp's CLIP template
test_dataset = dict(
    type='ImageNetFolderDataset', data_root=data_root,
    data_prefix='images/val', pipeline=_base_.test_pipeline)
# 16 shots per class (seed 1): CoOp's ImageNet training set
train_dataset = dict(
    type='ImageNetFolderDataset', data_root=data_root,
    data_prefix='images/train', num_shots=16, seed=1,
    pipeline=_base_.train_pipeline)
