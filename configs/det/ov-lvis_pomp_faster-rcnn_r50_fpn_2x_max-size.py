# OV-LVIS plus Detic's image-label supervision: ImageNet-LVIS images (image
# labels only) train their largest proposal with the max-size loss. Each
# batch mixes box-labelled and image-labelled images 1:4 (Detic: 8 + 32
# per GPU).
_base_ = './ov-lvis_pomp_faster-rcnn_r50_fpn_2x.py'

image_data_root = 'data/imagenet/'
image_ann = 'annotations/imagenet_lvis_image_info.json'  # Detic's format

model = dict(roi_head=dict(bbox_head=dict(image_loss_weight=0.1)))

image_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(448, 448), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'flip', 'flip_direction', 'image_labels'))
]
train_dataloader = dict(
    batch_size=5,
    sampler=dict(
        _delete_=True,
        type='MultiSourceSampler',
        batch_size=5,
        source_ratio=[1, 4]),
    batch_sampler=None,
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        ignore_keys=['palette'],
        datasets=[
            _base_.lvis_train_set,
            dict(
                type='ImageLabelDataset',
                data_root=image_data_root,
                ann_file=image_ann,
                data_prefix=dict(img=''),
                pipeline=image_pipeline)
        ]))
