# ruff: noqa: C408  (OpenMMLab configs are written with dict(...))
# Zero-shot CLIP with the hand template "a photo of a {}." on a mini-world
# target (nothing to train):
#   python tools/test.py configs/zoo/zeroshot/miniworld_b2n.py \
#       --cfg-options test_dataloader.dataset.subset=unseen
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(type='TemplateCLIPClassifier', clip={{_base_.clip}},
             templates='a photo of a {}.')
custom_hooks = [h for h in _base_.custom_hooks
                if h['type'] != 'PromptCheckpointHook']
