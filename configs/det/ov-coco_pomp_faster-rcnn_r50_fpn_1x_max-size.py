# Open-vocabulary COCO with Detic's image labels and captions (Detic's
# Detic_OVCOCO_CLIP_R50_1x_max-size_caption with the POMP prompt): the
# OV-COCO boxes of the 48 base classes plus COCO caption images. Their tags,
# the caption words that name classes, base or novel (Detic's
# captions_train2017_tags_allcaps.json, made by its tools/get_cc_tags.py
# or by python -m pomp_mm.det.datasets --caption-tags, docs/detection.md),
# train the max-size loss; one of their captions, encoded by the frozen
# CLIP text tower, is the positive of their whole-image box against the
# other captions of the global batch (the caption loss, negatives weighted
# 1.0); both weighted 0.1. Detic fine-tunes its BoxSup
# model: train ov-coco_pomp_faster-rcnn_r50_fpn_1x.py first, then this one
# from its checkpoint (load_from below).
#
# The vocabulary in training is all 65 OV-COCO classes, so that the image
# labels of novel classes have a column. The box file has the 65 categories
# and only the base classes' boxes, and its class frequencies (novel image
# counts 0) make the federated loss score every base class and no novel
# one on box images: the box part trains what the box-only config trains
# (Detic's IGNORE_ZERO_CATS). Make both files with
#   A=data/coco/annotations
#   python -m pomp_mm.det.datasets $A/instances_train2017.json \
#       $A/instances_train2017_ov65_base48.json \
#       --categories coco_ov65 --boxes coco_ov_base48 \
#       --cat-info $A/instances_train2017_ov65_base48_cat_info.json
#
# Batches mix 2 box images (800 px) and 8 caption-labelled ones (400 px,
# Detic's DATASET_MIN_SIZES) per GPU, 1:4 as Detic's DATASET_BS [2, 8] and
# DATASET_RATIO [1, 4] (Detic alternates whole batches). An epoch is one
# pass over the box images at 2 per GPU, so 12 epochs at 8 GPUs are about
# Detic's 90k iterations, with the box-only 1x's lr and milestones.
_base_ = [
    './ov-coco_pomp_faster-rcnn_r50_fpn_1x.py',
    './_base_/imagenet-lvis_image-labels.py'
]

load_from = 'work_dirs/ov-coco_pomp_faster-rcnn_r50_fpn_1x/epoch_12.pth'
box_ann = 'annotations/instances_train2017_ov65_base48.json'
box_cat_info = 'annotations/instances_train2017_ov65_base48_cat_info.json'
caption_tag_ann = 'annotations/captions_train2017_tags_allcaps.json'

model = dict(
    ws_num_props=32,  # Detic's WS_NUM_PROPS for OV-COCO (LVIS: 128)
    with_caption=True,  # the prompt learner's CLIP encodes the captions
    sync_caption_batch=True,
    roi_head=dict(
        bbox_head=dict(
            num_classes=len(_base_.all_classes),
            image_loss_weight=0.1,
            caption_weight=1.0,
            neg_cap_weight=1.0,
            loss_cls=dict(
                use_fed_loss=True,
                cat_freq_path=_base_.data_root + box_cat_info,
                fed_loss_num_cat=len(_base_.all_classes)))))

caption_tag_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),  # empty: no boxes
    dict(type='Resize', scale=(667, 400), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='PackDetInputs',
        meta_keys=_base_.image_pipeline[-1].meta_keys + ('captions', ))
]
train_dataloader = dict(
    _base_.box_and_image_label_loader,
    dataset=dict(
        _base_.box_and_image_label_concat,
        datasets=[
            dict(_base_.train_dataloader.dataset,
                 ann_file=box_ann,
                 metainfo=dict(classes=_base_.all_classes)),
            dict(_base_.image_label_set,
                 data_root=_base_.data_root,
                 ann_file=caption_tag_ann,
                 with_captions=True,
                 data_prefix=dict(img='train2017/'),
                 metainfo=dict(classes=_base_.all_classes),
                 pipeline=caption_tag_pipeline)
        ]))
auto_scale_lr = _base_.box_and_image_label_lr_scaling
