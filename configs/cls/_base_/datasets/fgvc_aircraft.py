# FGVCAircraft: 100 classes, CoOp's layout and split (docs/classification.md):
#   data/fgvc_aircraft/images/<id>.jpg
#   data/fgvc_aircraft/variants.txt, images_variant_{train,val,test}.txt
# Class names come from the split files at run time.
_base_ = ['./clip_pipeline.py']

data_root = 'data/fgvc_aircraft'
num_classes = 100
clip_template = 'a photo of a {}, a type of aircraft.'  # CoOp's CLIP template
test_dataset = dict(
    type='FGVCAircraftDataset', image_dir='images',
    data_root=data_root, split='test', pipeline=_base_.test_pipeline)
# 16 shots per class (seed 1) for the CoOp-style baselines on this dataset
train_dataset = dict(
    type='FGVCAircraftDataset', image_dir='images',
    data_root=data_root, split='train', num_shots=16, seed=1,
    pipeline=_base_.train_pipeline)
