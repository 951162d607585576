# Caltech101: 100 classes, CoOp's layout and split (docs/classification.md):
#   data/caltech-101/101_ObjectCategories/<class>/image_<n>.jpg
#   data/caltech-101/split_zhou_Caltech101.json
# Class names come from the split files at run time.
_base_ = ['./clip_pipeline.py']

data_root = 'data/caltech-101'
num_classes = 100
clip_template = 'a photo of a {}.'  # CoOp's CLIP template
test_dataset = dict(
    type='CoOpSplitDataset',
    split_file='split_zhou_Caltech101.json',
    image_dir='101_ObjectCategories',
    data_root=data_root, split='test', pipeline=_base_.test_pipeline)
# 16 shots per class (seed 1) for the CoOp-style baselines on this dataset
train_dataset = dict(
    type='CoOpSplitDataset',
    split_file='split_zhou_Caltech101.json',
    image_dir='101_ObjectCategories',
    data_root=data_root, split='train', num_shots=16, seed=1,
    pipeline=_base_.train_pipeline)
