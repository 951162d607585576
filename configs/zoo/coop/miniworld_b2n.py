# CoOp (Zhou et al., 2022): a context vector learned with full softmax on
# the base classes, the zoo's reference method.
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(
    type='PromptCLIPClassifier',
    prompt_learner=dict(type='PompPromptLearner', clip={{_base_.clip}},
                        n_ctx=4),
    loss=dict(type='PompLoss', num_classes_per_step=None))
