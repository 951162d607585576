# Linear probe on frozen CLIP features, 16 shots per class of this dataset
_base_ = ['../_base_/linear_probe.py', '../_base_/datasets/ucf101.py']
model = dict(head=dict(num_classes=_base_.num_classes))
train_dataloader = dict(dataset=_base_.train_dataset)
test_dataloader = dict(dataset=_base_.test_dataset)
