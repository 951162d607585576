# POMP prompt zero-shot on this dataset. Swap prompt, CLIP weights, data:
#   --cfg-options model.prompt_learner.prompt_checkpoint=PROMPT
#   model.prompt_learner.clip.checkpoint=CLIP
#   test_dataloader.dataset.data_root=ROOT
_base_ = ['../_base_/pomp_prompt.py', '../_base_/datasets/imagenet.py']
test_dataloader = dict(dataset=_base_.test_dataset)
