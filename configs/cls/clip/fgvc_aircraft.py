# CLIP zero-shot with CoOp's single hand-written template for this dataset
_base_ = ['../_base_/clip_zeroshot.py', '../_base_/datasets/fgvc_aircraft.py']
model = dict(templates=_base_.clip_template)
test_dataloader = dict(dataset=_base_.test_dataset)
