# CLIP zero-shot with hand-written templates (the CLIP baseline). The class
# weights are CLIP's: per template normalise, average, renormalise
# (open_clip.build_zero_shot_classifier). `templates` is one string with
# '{}', a list of them, or a set name ('openai_imagenet': the 80 templates).
#   --cfg-options model.clip.checkpoint=checkpoints/ViT-B-16.pt
#                 "model.templates=a photo of a {}."
_base_ = ['../../_base_/pomp_runtime.py']

clip_checkpoint = 'checkpoints/ViT-B-16.pt'

model = dict(
    type='TemplateCLIPClassifier',
    clip=dict(type='FrozenCLIP', model_name='ViT-B-16',
              checkpoint=clip_checkpoint),
    templates='a photo of a {}.',
    text_batch_size=64)
custom_hooks = [dict(type='VocabularyHook'),  # class names from the dataset
                dict(type='NonFiniteCheckHook')]

test_dataloader = dict(
    batch_size=100,
    num_workers=8,
    persistent_workers=True,
    collate_fn=dict(type='default_collate'),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_evaluator = dict(type='Accuracy', topk=(1, 5))
test_cfg = dict()
