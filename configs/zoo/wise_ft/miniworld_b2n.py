# ruff: noqa: C408  (OpenMMLab configs are written with dict(...))
# WiSE-FT (Wortsman et al., CVPR 2022): fine-tune CLIP's image tower and a
# head initialised with the hand-template zero-shot classifier end to end,
# then test the weight-space ensemble
#   theta = (1 - alpha) theta_zeroshot + alpha theta_finetuned.
# Sweep alpha on one checkpoint at test time:
#   python tools/test.py configs/zoo/wise_ft/miniworld_b2n.py \
#       work_dirs/miniworld_b2n/epoch_10.pth --cfg-options model.alpha=0.3
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(type='WiSEFTClassifier', clip={{_base_.clip}}, alpha=0.5,
             train_head=True, templates='a photo of a {}.')
# the base's hooks (vocabularies, ...) but no prompt files: no prompt here
custom_hooks = [h for h in _base_.custom_hooks
                if h['type'] != 'PromptCheckpointHook']
# the paper's AdamW, lr 3e-5 and weight decay 0.1 (lr 3e-5 / 1e-4 / 3e-4 gave
# 90.5 / 89.8 / 89.5 at alpha 0.5 on the validation split: mixed200 seen,
# 4 images per class, seed 12), cosine over the base's 10 epochs
optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='AdamW', lr=3e-5, weight_decay=0.1),
    clip_grad=dict(max_norm=1.0))
default_hooks = dict(checkpoint=dict(interval=1000, save_last=True))
