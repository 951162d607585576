# CLIP zero-shot with the 80 OpenAI ImageNet templates (prompt ensemble)
_base_ = ['../_base_/clip_zeroshot.py', '../_base_/datasets/dtd.py']
model = dict(templates='openai_imagenet')
test_dataloader = dict(dataset=_base_.test_dataset)
