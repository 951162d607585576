# ruff: noqa: C408  (OpenMMLab configs are written with dict(...))
# Zero-shot image-text retrieval with the mini-world CLIP: 200 images (one
# per class of the mixed200 target) with 5 generated captions each;
# recall@1/5/10 image->text and text->image (mmpretrain's RetrievalTestLoop
# and RetrievalRecall, as its BLIP retrieval configs):
#   python tools/test.py configs/zoo/retrieval/miniworld.py
_base_ = ['../_base_/miniworld_b2n.py']

model = dict(type='CLIPRetriever', clip={{_base_.clip}})
# no class vocabulary and no prompt files
custom_hooks = [h for h in _base_.custom_hooks if h['type'] not in
                ('VocabularyHook', 'PromptCheckpointHook')]
test_dataloader = dict(
    _delete_=True,
    collate_fn=dict(type='default_collate'),
    batch_size=100,
    num_workers=0,
    persistent_workers=False,  # True needs num_workers > 0
    sampler=dict(type='SequentialSampler', subsample_type='sequential'),
    dataset=dict(type='MiniWorldCaptions', split='mixed200', subset='all',
                 images_per_class=1, captions_per_image=5, sample_seed=5,
                 pipeline=[
                     dict(type='PackInputs',
                          algorithm_keys=['text', 'gt_text_id',
                                          'gt_image_id'],
                          meta_keys=['image_id'])
                 ]))
# (it sets both keys of the base's Accuracy evaluator: nothing merges in)
test_evaluator = dict(type='RetrievalRecall', topk=(1, 5, 10))
test_cfg = dict(type='RetrievalTestLoop')
# retrieval is evaluation only
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
val_dataloader = None
val_cfg = None
val_evaluator = None
