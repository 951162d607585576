# Flowers102: 102 classes, CoOp's layout and split (docs/classification.md):
#   data/oxford_flowers/jpg/image_<n>.jpg
#   data/oxford_flowers/split_zhou_OxfordFlowers.json
# Class names come from the split files at run time.
_base_ = ['./clip_pipeline.py']

data_root = 'data/oxford_flowers'
num_classes = 102
clip_template = 'a photo of a {}, a type of flower.'  # CoOp's CLIP template
test_dataset = dict(
    type='CoOpSplitDataset',
    split_file='split_zhou_OxfordFlowers.json',
    image_dir='jpg',
    data_root=data_root, split='test', pipeline=_base_.test_pipeline)
# 16 shots per class (seed 1) for the CoOp-style baselines on this dataset
train_dataset = dict(
    type='CoOpSplitDataset',
    split_file='split_zhou_OxfordFlowers.json',
    image_dir='jpg',
    data_root=data_root, split='train', num_shots=16, seed=1,
    pipeline=_base_.train_pipeline)
