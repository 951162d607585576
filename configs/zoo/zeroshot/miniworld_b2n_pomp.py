# ruff: noqa: C408  (OpenMMLab configs are written with dict(...))
# Zero-shot CLIP with the POMP prompt pre-trained on the mini-world's source
# vocabulary (tools/miniworld.py writes it), frozen; nothing to train:
#   python tools/test.py configs/zoo/zeroshot/miniworld_b2n_pomp.py
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(
    type='PromptCLIPClassifier',
    prompt_learner=dict(type='PompPromptLearner', clip={{_base_.clip}},
                        prompt_checkpoint={{_base_.pomp_prompt}},
                        freeze=True))
