# KgCoOp started from the POMP prompt (tools/miniworld.py writes it) instead
# of "a photo of a"; otherwise as ./miniworld_b2n.py.
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(
    type='KgCoOpClassifier',
    prompt_learner=dict(type='PompPromptLearner', clip={{_base_.clip}},
                        prompt_checkpoint={{_base_.pomp_prompt}}),
    kg_weight=8.0)
