# Open-vocabulary LVIS, box-supervised CenterNet2 on a Swin-B backbone
# (Detic's BoxSup-C2_Lbase_CLIP_SwinB_896b32_4x with the POMP prompt; mmdet's
# port: projects/Detic_new): ov-lvis_pomp_centernet2_r50_fpn_4x.py (LVIS
# base boxes and masks, CenterNet proposals, the 3-stage cascade that
# classifies with the prompt's text features, federated loss) with mmdet's
# SwinTransformer (Swin-B, ImageNet-22K weights from a local file) whose
# stages 2-4 feed the FPN, 896 px large-scale jitter and test size, batch
# 32 (8 GPUs x 4) at AdamW 1e-4 (Detic's SwinB solver).
_base_ = [
    './ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x.py',
    './_base_/centernet2_proposals.py'
]
image_size = (896, 896)

model = dict(
    _base_.centernet2_on_cascade,
    data_preprocessor=dict(batch_augments=[
        dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)
    ]),
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        embed_dims=128,
        depths=[2, 2, 18, 2],
        num_heads=[4, 8, 16, 32],
        window_size=7,
        mlp_ratio=4,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.,
        attn_drop_rate=0.,
        drop_path_rate=0.3,
        patch_norm=True,
        out_indices=(1, 2, 3),
        with_cp=False,
        convert_weights=True,
        # no download: the official Swin-B ImageNet-22K file, local
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/swin_base_patch4_window7_224_22k.pth')),
    # Swin-B's stages 2-4 (Detic: FPN on swin1-swin3)
    neck=dict(_base_.centernet2_on_cascade.neck,
              in_channels=[256, 512, 1024]))

train_pipeline = [
    dict(t, scale=image_size) if t['type'] == 'RandomResize' else
    dict(t, crop_size=image_size) if t['type'] == 'RandomCrop' else t
    for t in _base_.train_pipeline
]
test_pipeline = [
    dict(t, scale=image_size) if t['type'] == 'Resize' else t
    for t in _base_.test_pipeline
]
train_dataloader = dict(
    batch_size=4, dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-4))
auto_scale_lr = dict(base_batch_size=32)
