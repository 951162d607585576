# MaPLe (Khattak et al., CVPR 2023): language prompts in the first J text
# layers, coupled (linear maps) to vision prompts in the same J image
# layers. The paper uses J = 9 of ViT-B/16's 12 layers; the mini CLIP has 3
# per tower, so J = 2. The paper starts from 2 tokens of "a photo of a" and
# keeps "of a" as fixed text; here all four words are the learned context.
# Schedule: the base's (as CoOp here).
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(
    type='MaPLeClassifier',
    prompt_learner=dict(type='PompPromptLearner', clip={{_base_.clip}},
                        ctx_init='a photo of a'),
    prompt_depth=2)
# no prompt_*.pth files: the text context alone is not the model; test with
# the full checkpoint (tools/test.py CONFIG WORK_DIR/epoch_10.pth)
custom_hooks = [h for h in _base_.custom_hooks
                if h['type'] != 'PromptCheckpointHook']
