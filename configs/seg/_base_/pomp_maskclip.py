# The training-free MaskCLIP-style segmentor (PompMaskCLIP): dense CLIP
# ViT-B/16 patch features classified by the POMP prompt's text features. When
# trained it is ZSSeg's stage 1 (prompt tuned by masked-region
# classification on the seen classes; only ctx trains). Swap weights/prompt:
#   --cfg-options model.text_encoder.prompt_learner.clip.checkpoint=...
#                 model.text_encoder.prompt_learner.prompt_checkpoint=...
# or give the prompt file as tools/test.py's second argument.
clip_input = (224, 224)  # ViT-B/16 input: slide windows of this size
model = dict(
    type='PompMaskCLIP',
    # CLIP's RGB mean/std; dataset configs add size=crop_size for training
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[122.7709383, 116.7460125, 104.09373615],
        std=[68.5005327, 66.6321579, 70.32316305],
        bgr_to_rgb=True, pad_val=0, seg_pad_val=255,
        test_cfg=dict(size_divisor=16)),
    text_encoder=dict(
        type='PompTextEncoder',
        cat_bg=False,
        prompt_learner=dict(
            type='PompPromptLearner',
            clip=dict(type='FrozenCLIP', model_name='ViT-B-16',
                      checkpoint='checkpoints/ViT-B-16.pt'),
            # the released ImageNet-21K prompt (nctx16), as ZSSeg uses it
            prompt_checkpoint='checkpoints/pomp/vit_b16_ep20_randaug2_'
            'unc1000_16shots_nctx16_cscFalse_ctpend_seed42.pth.tar',
            freeze=False)),
    dense_mode='value',  # MaskCLIP; 'cls' for small CLIPs (see docs)
    region_cfg=dict(min_area=32 * 32, max_regions=8, ignore_index=255),
    test_cfg=dict(mode='slide', crop_size=clip_input, stride=(112, 112)))

# Stage 1 (ZSSeg): SGD lr 0.02, wd 5e-4, warm-up + cosine; 3.2k iterations
# (VOC, batch 16) - the COCO config sets 16k (batch 32).
max_iters = 3200
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters,
         eta_min=0.0),
]
