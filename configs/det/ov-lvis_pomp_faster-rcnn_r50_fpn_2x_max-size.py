# OV-LVIS plus Detic's image-label supervision: ImageNet-LVIS images (image
# labels only, configs/det/_base_/imagenet-lvis_image-labels.py) train
# their largest proposal with the max-size loss (weight 0.1). Each batch
# mixes box-labelled and image-labelled images 1:4 (Detic alternates whole
# batches, 8 box or 32 image-labelled images per GPU, 1:4). An epoch is one
# pass over the LVIS boxes at 1 per GPU (MultiSourceEpochSampler; mmdet's
# MultiSourceSampler never ends an epoch), so 12 epochs make as many
# iterations as the box-only config's 24 at 2 per GPU.
_base_ = [
    './ov-lvis_pomp_faster-rcnn_r50_fpn_2x.py',
    './_base_/imagenet-lvis_image-labels.py'
]

model = dict(roi_head=dict(bbox_head=dict(image_loss_weight=0.1)))
train_dataloader = dict(
    batch_size=5,
    sampler=dict(
        _delete_=True,
        type='MultiSourceEpochSampler',
        batch_size=5,
        source_ratio=[1, 4]),
    batch_sampler=None,
    dataset=dict(
        _base_.box_and_image_label_concat,
        datasets=[_base_.lvis_train_set, _base_.image_label_set]))

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    _base_.param_scheduler[0],
    # the 2x's milestones 16 and 22 of 24
    dict(_base_.param_scheduler[1], end=max_epochs, milestones=[8, 11])
]
