# Detic's image-labelled set: ImageNet-21K images of the LVIS classes with
# their class as an image label (imagenet_lvis_image_info.json, Detic's
# format: images[].pos_category_ids). A detection config adds
# `image_label_set` to its training data with the max-size loss on (see
# ov-lvis_pomp_*_max-size.py); the images have no boxes.
image_data_root = 'data/imagenet/'
image_ann = 'annotations/imagenet_lvis_image_info.json'
image_label_size = 320  # Detic: DATASET_INPUT_SIZE [640, 320]
image_pipeline = [
    dict(type='LoadImageFromFile'),
    # no instances: empty gt boxes (and masks with with_mask=True, which a
    # mask detector's batch padding needs)
    dict(type='LoadAnnotations', with_bbox=True),
    # Detic: scale 0.5-1.5 of 320 px, then a 320 px crop
    dict(
        type='RandomResize',
        scale=(image_label_size, image_label_size),
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_type='absolute_range',
        crop_size=(image_label_size, image_label_size),
        allow_negative_crop=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'flip', 'flip_direction', 'image_labels'))
]
image_label_set = dict(
    type='ImageLabelDataset',
    data_root=image_data_root,
    ann_file=image_ann,
    data_prefix=dict(img=''),
    pipeline=image_pipeline)
# the same set for a mask detector (empty gt masks too: its batch padding
# needs them)
image_label_set_with_masks = dict(
    image_label_set,
    pipeline=[
        dict(t, with_mask=True) if t['type'] == 'LoadAnnotations' else t
        for t in image_pipeline
    ])
# Detic alternates whole batches per GPU (8 box images at 640 px or 32
# image-labelled ones at 320 px, 1:4); the max-size configs mix every batch
# 1:4 instead: 2 box + 8 image-labelled images per GPU, the batch padded to
# the box size. An epoch is one pass over the box set at 2 per GPU
# (MultiSourceEpochSampler; mmdet's MultiSourceSampler never ends an
# epoch), so 12 epochs make as many iterations as a box-only 4x config's 48
# at 8 per GPU: Detic's "ft4x", a second 4x schedule.
box_and_image_label_batch = 10
box_and_image_label_sampler = dict(
    type='MultiSourceEpochSampler',
    batch_size=box_and_image_label_batch,
    source_ratio=[1, 4])
# the loader settings of a max-size config (its dataset: the box set and
# image_label_set(_with_masks) in a ConcatDataset, in that order), and the
# "ft4x" epochs; a box and an image-labelled image count as one each in
# the lr scaling
box_and_image_label_loader = dict(
    batch_size=box_and_image_label_batch,
    sampler=dict(_delete_=True, **box_and_image_label_sampler),
    batch_sampler=None)
# its dataset: the box set first, then the image-labelled set
# (`datasets=[...]`); they differ in palette only
box_and_image_label_concat = dict(
    _delete_=True, type='ConcatDataset', ignore_keys=['palette'])
box_and_image_label_lr_scaling = dict(enable=False, base_batch_size=80)
ft4x_epochs = 12
ft4x_train_cfg = dict(max_epochs=ft4x_epochs, val_interval=ft4x_epochs)
