# CoCoOp (Zhou et al., CVPR 2022): CoOp's context plus a per-image token
# from a meta-net on the image feature, started from "a photo of a" as in
# the paper. Schedule: the base's (SGD lr 0.02, batch 32, 10 epochs, as
# CoOp here); the paper's batch of 1 (lr 0.002) only saves memory, which
# the 100 base classes of the mini-world do not need.
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(
    type='CoCoOpClassifier',
    prompt_learner=dict(type='PompPromptLearner', clip={{_base_.clip}},
                        ctx_init='a photo of a'))
# no prompt_*.pth files: the text context alone is not the model; test with
# the full checkpoint (tools/test.py CONFIG WORK_DIR/epoch_10.pth)
custom_hooks = [h for h in _base_.custom_hooks
                if h['type'] != 'PromptCheckpointHook']
