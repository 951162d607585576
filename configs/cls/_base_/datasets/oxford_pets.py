# OxfordPets: 37 classes, CoOp's layout and split (docs/classification.md):
#   data/oxford_pets/images/<Breed>_<n>.jpg
#   data/oxford_pets/split_zhou_OxfordPets.json
# Class names come from the split files at run time.
_base_ = ['./clip_pipeline.py']

data_root = 'data/oxford_pets'
num_classes = 37
clip_template = 'a photo of a {}, a type of pet.'  # CoOp's CLIP template
test_dataset = dict(
    type='CoOpSplitDataset',
    split_file='split_zhou_OxfordPets.json',
    image_dir='images',
    data_root=data_root, split='test', pipeline=_base_.test_pipeline)
# 16 shots per class (seed 1) for the CoOp-style baselines on this dataset
train_dataset = dict(
    type='CoOpSplitDataset',
    split_file='split_zhou_OxfordPets.json',
    image_dir='images',
    data_root=data_root, split='train', num_shots=16, seed=1,
    pipeline=_base_.train_pipeline)
