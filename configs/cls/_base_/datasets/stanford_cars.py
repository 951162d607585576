# StanfordCars: 196 classes, CoOp's layout and split (docs/classification.md):
#   data/stanford_cars/cars_train/<n>.jpg, cars_test/<n>.jpg
#   data/stanford_cars/split_zhou_StanfordCars.json (paths cars_test/...)
# Class names come from the split files at run time.
_base_ = ['./clip_pipeline.py']

data_root = 'data/stanford_cars'
num_classes = 196
clip_template = 'a photo of a {}.'  # CoOp's CLIP template
test_dataset = dict(
    type='CoOpSplitDataset',
    split_file='split_zhou_StanfordCars.json',
    image_dir='',
    data_root=data_root, split='test', pipeline=_base_.test_pipeline)
# 16 shots per class (seed 1) for the CoOp-style baselines on this dataset
train_dataset = dict(
    type='CoOpSplitDataset',
    split_file='split_zhou_StanfordCars.json',
    image_dir='',
    data_root=data_root, split='train', num_shots=16, seed=1,
    pipeline=_base_.train_pipeline)
