# ImageNet-R: 200 classes, named with CLIP's curated ImageNet class names
# (pomp_mm/cls/classnames/imagenet.txt; pass classnames_file= to use CoOp's
# classnames.txt instead). Layout (docs/classification.md):
#   data/imagenet-rendition/imagenet-r/<wnid>/*.jpg (the 200-class subset)
_base_ = ['./clip_pipeline.py']

data_root = 'data/imagenet-rendition'
num_classes = 200
clip_template = 'a photo of a {}.'  # CoOp's CLIP template
test_dataset = dict(
    type='ImageNetFolderDataset', data_root=data_root,
    data_prefix='imagenet-r', pipeline=_base_.test_pipeline)
