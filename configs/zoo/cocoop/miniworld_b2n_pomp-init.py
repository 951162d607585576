# CoCoOp started from the POMP prompt pre-trained on the source vocabulary
# (tools/miniworld.py writes it) instead of "a photo of a"; otherwise as
# ./miniworld_b2n.py.
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(
    type='CoCoOpClassifier',
    prompt_learner=dict(type='PompPromptLearner', clip={{_base_.clip}},
                        prompt_checkpoint={{_base_.pomp_prompt}}))
# no prompt_*.pth files: the text context alone is not the model; test with
# the full checkpoint (tools/test.py CONFIG WORK_DIR/epoch_10.pth)
custom_hooks = [h for h in _base_.custom_hooks
                if h['type'] != 'PromptCheckpointHook']
