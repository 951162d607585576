# ruff: noqa: C408  (OpenMMLab configs are written with dict(...))
# CoOp initialised from the POMP prompt (pre-trained on the source
# vocabulary, tools/miniworld.py), then tuned on the base classes as CoOp:
# ./miniworld_b2n.py with the context read from the prompt file (its n_ctx
# too) instead of 4 fresh vectors (tests/test_configs.py checks that the two
# differ only there).
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(
    type='PromptCLIPClassifier',
    prompt_learner=dict(type='PompPromptLearner', clip={{_base_.clip}},
                        n_ctx=None, prompt_checkpoint={{_base_.pomp_prompt}}),
    loss=dict(type='PompLoss', num_classes_per_step=None))
