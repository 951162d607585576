# Zero-shot semantic segmentation of mini-world scenes (training-free,
# PompMaskCLIP) with the tiny CLIP. The test set holds the 200 classes of a
# target (100 seen + 100 unseen, mixed in each scene); HIoUMetric reports
# mIoU-seen / mIoU-unseen / hIoU. Run by tools/miniworld.py; on its own:
#   python -m pomp_mm.benchmarks.miniworld.export data/miniworld/scenes/mixed200 \
#       --split test:300
#   python tools/test.py configs/miniworld/seg_maskclip.py [PROMPT.pth]
# Without a prompt file, ctx is the words "a photo of a": the hand template.
_base_ = ['../seg/_base_/pomp_seg_runtime.py',
          '../seg/_base_/pomp_maskclip.py']
custom_imports = dict(imports=['pomp_mm.seg', 'pomp_mm.benchmarks.miniworld.seg'],
                      allow_failed_imports=False)

data_root = 'data/miniworld/scenes/mixed200'
clip_checkpoint = 'data/miniworld/tiny_clip.pt'
model = dict(
    # the tiny CLIP's patch tokens never learned the joint space: dense
    # features from its class token (see clip_dense_features)
    dense_mode='cls',
    text_encoder=dict(prompt_learner=dict(
        clip=dict(model_name='pomp-mini-vit', checkpoint=clip_checkpoint),
        n_ctx=None, ctx_init='a photo of a', prompt_checkpoint=None,
        freeze=True)),
    # 64 px windows: the scale the tiny CLIP was trained at
    test_cfg=dict(mode='slide', crop_size=(64, 64), stride=(32, 32)))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,  # True needs num_workers > 0
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='MiniWorldSegDataset', data_root=data_root,
                 split='test', pipeline=test_pipeline))
val_dataloader = test_dataloader
# seen/unseen from the export's classes.json (dataset metainfo)
test_evaluator = dict(type='HIoUMetric')
val_evaluator = test_evaluator

# test only (the training-free segmentor); ZSSeg stage 1 is not run here
train_cfg = None
optim_wrapper = None
param_scheduler = None
