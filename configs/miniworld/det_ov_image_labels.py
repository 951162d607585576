# Detic's claim in miniature: det_ov.py's Faster R-CNN (same scenes, boxes,
# backbone, schedule and box steps) plus image-labelled images of all the
# target's classes, seen and unseen, trained with Detic's max-size loss.
# The image-labelled set is single-object images at 64 px, 8 per class,
# rendered as the classification pool renders its images (the mini-world's
# ImageNet-21K), each labelled with its class only (no box):
# export.export_image_labels, Detic's ImageNet-LVIS.
#
# The vocabulary is all 200 classes in training. Box images keep the seen
# classes' boxes only (boxes='seen'), and the federated loss, with the seen
# classes' box counts (unseen: 0), scores every seen class and no unseen
# one, so the box part trains what det_ov.py trains; the unseen columns
# learn only from the image labels. Each batch: 8 box scenes + 4
# image-labelled images; an epoch is one pass over the box scenes
# (MultiSourceEpochSampler), so the box steps equal det_ov.py's. Detic
# alternates whole batches (8 box or 32 image-labelled images, 1:4); the
# image share here is kept small for 2 CPU cores.
# Run by tools/miniworld.py --det-models faster image-labels; on its own:
#   python -m pomp_mm.benchmarks.miniworld.export data/miniworld/scenes/mixed200 \
#       --split train:600 --split test:300
#   python -m pomp_mm.benchmarks.miniworld.export data/miniworld/image_labels/mixed200 \
#       --image-labels 8 --scene-root data/miniworld/scenes/mixed200
#   python tools/train.py configs/miniworld/det_ov_image_labels.py
_base_ = ['./det_ov.py']

image_label_root = 'data/miniworld/image_labels/mixed200/'
scene_all_classes = 200  # mixed200's seen + unseen classes

model = dict(
    roi_head=dict(
        bbox_head=dict(
            num_classes=scene_all_classes,
            image_loss_weight=0.1,  # Detic's IMAGE_LOSS_WEIGHT
            loss_cls=dict(
                use_fed_loss=True,
                cat_freq_path=image_label_root + 'cat_info_seen.json',
                fed_loss_num_cat=scene_all_classes))))

image_label_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),  # empty: no boxes
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor', 'flip', 'flip_direction',
                    'image_labels')),
]
train_dataloader = dict(
    batch_size=12,
    sampler=dict(type='MultiSourceEpochSampler', batch_size=12,
                 source_ratio=[2, 1]),
    batch_sampler=None,
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        ignore_keys=['palette'],
        datasets=[
            dict(_base_.scene_train_set, subset='all', boxes='seen'),
            dict(type='MiniWorldImageLabelDataset',
                 data_root=image_label_root,
                 pipeline=image_label_pipeline),
        ]))
