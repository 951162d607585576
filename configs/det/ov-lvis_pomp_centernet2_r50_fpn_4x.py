# Open-vocabulary LVIS, box-supervised, with CenterNet2's proposals: the
# cascade + masks of ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x.py (LVIS
# base boxes and masks, federated loss, 640 px LSJ, AdamW 2e-4 at batch 64,
# 3 stages that all classify with the prompt's text features, a
# class-agnostic mask head) whose proposals come from a class-agnostic
# CenterNet head (mmdet's CenterNetUpdateHead, num_classes=1) on P3-P7, as
# Detic's BoxSup-C2_Lbase_CLIP_R5021k_640b64_4x does (mmdet's port:
# projects/Detic_new, detic_centernet2_r50_fpn_4x_lvis-base_boxsup.py). The
# test score is CenterNet2's probabilistic one (mult_proposal_score): the
# square root of the stages' mean probability times the proposal score.
# What differs from Detic is in docs/detection.md.
_base_ = [
    './ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x.py',
    './_base_/centernet2_proposals.py'
]
model = _base_.centernet2_on_cascade
