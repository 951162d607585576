# The ONE shared prompt config of the classification transfer evaluation:
# frozen CLIP ViT-B/16 + a POMP prompt file, classifying with s*cos against
# "X X X X {name}." prompts of the dataset's class names (the official POMP
# eval: no templates, no ensembling). Every configs/cls/pomp/<dataset>.py
# inherits it, so one key swaps the prompt / the CLIP weights everywhere:
#   --cfg-options model.prompt_learner.prompt_checkpoint=PROMPT.pth
#                 model.prompt_learner.clip.checkpoint=checkpoints/ViT-B-16.pt
# Files are local: put OpenAI's ViT-B-16.pt and the released POMP prompt
# under checkpoints/ (docs/classification.md). A CoOp prompt works the same.
_base_ = ['../../_base_/pomp_runtime.py']

clip_checkpoint = 'checkpoints/ViT-B-16.pt'
prompt_checkpoint = ('checkpoints/vit_b16_ep5_randaug2_unc1000_16shots_'
                     'nctx4_cscFalse_ctpend_seed42.pth.tar')

model = dict(
    type='PromptCLIPClassifier',
    prompt_learner=dict(
        type='PompPromptLearner',
        clip=dict(type='FrozenCLIP', model_name='ViT-B-16',
                  checkpoint=clip_checkpoint),
        prompt_checkpoint=prompt_checkpoint,  # n_ctx is taken from the file
        class_token_position='end',
        freeze=True),
    text_batch_size=512)

# the dataset comes from configs/cls/_base_/datasets/<name>.py
test_dataloader = dict(
    batch_size=100,
    num_workers=8,
    persistent_workers=True,
    collate_fn=dict(type='default_collate'),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_evaluator = dict(type='Accuracy', topk=(1, 5))
test_cfg = dict()
