# ruff: noqa: C408  (OpenMMLab configs are written with dict(...))
# CoOp initialised from the POMP prompt (pre-trained on the source
# vocabulary, tools/miniworld.py), then tuned on the base classes as CoOp.
_base_ = ['./miniworld_b2n.py']

model = dict(prompt_learner=dict(n_ctx=None,
                                 prompt_checkpoint={{_base_.pomp_prompt}}))
