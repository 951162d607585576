# KgCoOp (Yao et al., CVPR 2023): CoOp plus lambda * mean ||w - w_clip||^2
# between the learned and the "a photo of a {}." class features (lambda = 8,
# the paper's), started from "a photo of a" as the official code does.
# Schedule: the base's (as CoOp here).
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(
    type='KgCoOpClassifier',
    prompt_learner=dict(type='PompPromptLearner', clip={{_base_.clip}},
                        ctx_init='a photo of a'),
    kg_weight=8.0)
