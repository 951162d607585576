# ZSSeg stage 2 (PompZSSeg): MaskFormer with a ResNet-101c backbone whose
# query classifier is the frozen stage-1 POMP prompt's text features plus a
# learned no-object embedding; at test, mask scores are ensembled with CLIP
# crop scores (λ per dataset: 0.8 COCO, 0.7 VOC, 0.5 ADE, 0.2 PC-59).
# Data configs set the seen vocabulary and clip_ensemble_lambda.
stage1_prompt = 'work_dirs/pomp_maskclip_vit-b16_coco-stuff164k-156-15/' \
    'prompt_latest.pth'
num_queries = 100
model = dict(
    type='PompZSSeg',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_val=0, seg_pad_val=255,
        test_cfg=dict(size_divisor=32)),
    backbone=dict(
        type='ResNetV1c', depth=101, num_stages=4, out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 1, 1), strides=(1, 2, 2, 2),
        norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=True,
        style='pytorch', contract_dilation=True,
        # a local ImageNet ResNet-101c file (pomp_mm never downloads)
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/resnet101_v1c.pth')),
    decode_head=dict(
        type='PompMaskFormerHead',
        text_encoder=dict(
            type='PompTextEncoder',
            cat_bg=True,  # the learned no-object row
            prompt_learner=dict(
                type='PompPromptLearner',
                clip=dict(type='FrozenCLIP', model_name='ViT-B-16',
                          checkpoint='checkpoints/ViT-B-16.pt'),
                prompt_checkpoint=stage1_prompt,
                freeze=True)),
        clip_ensemble_lambda=0.8,
        in_channels=[256, 512, 1024, 2048],
        feat_channels=256,
        in_index=[0, 1, 2, 3],
        out_channels=256,
        num_queries=num_queries,
        pixel_decoder=dict(type='mmdet.PixelDecoder',
                           norm_cfg=dict(type='GN', num_groups=32),
                           act_cfg=dict(type='ReLU')),
        enforce_decoder_input_project=False,
        positional_encoding=dict(num_feats=128, normalize=True),
        transformer_decoder=dict(
            return_intermediate=True,
            num_layers=6,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=256, num_heads=8,
                                   attn_drop=0.1, proj_drop=0.1,
                                   dropout_layer=None, batch_first=True),
                cross_attn_cfg=dict(embed_dims=256, num_heads=8,
                                    attn_drop=0.1, proj_drop=0.1,
                                    dropout_layer=None, batch_first=True),
                ffn_cfg=dict(embed_dims=256, feedforward_channels=2048,
                             num_fcs=2, act_cfg=dict(type='ReLU',
                                                     inplace=True),
                             ffn_drop=0.1, dropout_layer=None,
                             add_identity=True)),
            init_cfg=None),
        # class_weight is filled in: 1.0 per seen class, 0.1 no-object
        loss_cls=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False,
                      loss_weight=1.0, reduction='mean'),
        loss_mask=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0,
                       alpha=0.25, reduction='mean', loss_weight=20.0),
        loss_dice=dict(type='mmdet.DiceLoss', use_sigmoid=True,
                       activate=True, reduction='mean', naive_dice=True,
                       eps=1.0, loss_weight=1.0),
        train_cfg=dict(
            assigner=dict(type='mmdet.HungarianAssigner', match_costs=[
                dict(type='mmdet.ClassificationCost', weight=1.0),
                dict(type='mmdet.FocalLossCost', weight=20.0,
                     binary_input=True),
                dict(type='mmdet.DiceCost', weight=1.0, pred_act=True,
                     eps=1.0)]),
            sampler=dict(type='mmdet.MaskPseudoSampler'))),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

# MaskFormer schedule (ZSSeg COCO: 60k iterations, batch 32, lr 1e-4)
max_iters = 60000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=1e-4),
    clip_grad=dict(max_norm=0.01, norm_type=2),
    paramwise_cfg=dict(custom_keys={
        'backbone': dict(lr_mult=0.1),
        'query_embed': dict(decay_mult=0.0)}))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters // 4)
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
