# UCF101 (middle frames): 101 classes, CoOp's layout and split
# (docs/classification.md):
#   data/ucf101/UCF-101-midframes/<Action>/<video>.jpg
#   data/ucf101/split_zhou_UCF101.json
# Class names come from the split files at run time.
_base_ = ['./clip_pipeline.py']

data_root = 'data/ucf101'
num_classes = 101
clip_template = 'a photo of a person doing {}.'  # CoOp's CLIP template
test_dataset = dict(
    type='CoOpSplitDataset',
    split_file='split_zhou_UCF101.json',
    image_dir='UCF-101-midframes',
    data_root=data_root, split='test', pipeline=_base_.test_pipeline)
# 16 shots per class (seed 1) for the CoOp-style baselines on this dataset
train_dataset = dict(
    type='CoOpSplitDataset',
    split_file='split_zhou_UCF101.json',
    image_dir='UCF-101-midframes',
    data_root=data_root, split='train', num_shots=16, seed=1,
    pipeline=_base_.train_pipeline)
