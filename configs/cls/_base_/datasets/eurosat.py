# EuroSAT: 10 classes, CoOp's layout and split (docs/classification.md):
#   data/eurosat/2750/<Class>/<Class>_<n>.jpg
#   data/eurosat/split_zhou_EuroSAT.json
# Class names come from the split files at run time.
_base_ = ['./clip_pipeline.py']

data_root = 'data/eurosat'
num_classes = 10
clip_template = 'a centered satellite photo of {}.'  # CoOp's CLIP template
test_dataset = dict(
    type='CoOpSplitDataset',
    split_file='split_zhou_EuroSAT.json',
    image_dir='2750',
    data_root=data_root, split='test', pipeline=_base_.test_pipeline)
# 16 shots per class (seed 1) for the CoOp-style baselines on this dataset
train_dataset = dict(
    type='CoOpSplitDataset',
    split_file='split_zhou_EuroSAT.json',
    image_dir='2750',
    data_root=data_root, split='train', num_shots=16, seed=1,
    pipeline=_base_.train_pipeline)
