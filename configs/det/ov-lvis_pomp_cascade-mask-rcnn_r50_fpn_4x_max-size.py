# OV-LVIS with Detic's image labels on the cascade (Detic's
# Detic_LbaseI_CLIP_R5021k_640b64_4x_ft4x_max-size with the POMP prompt, RPN
# instead of CenterNet proposals): the box-supervised cascade config plus
# ImageNet-LVIS images whose largest proposal is trained towards their
# image label in every stage (max-size loss, weight 0.1). Detic fine-tunes
# its BoxSup model ("ft4x"): train the box-supervised config first, then
# this one from its checkpoint (load_from below).
_base_ = [
    './ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x.py',
    './_base_/imagenet-lvis_image-labels.py'
]

load_from = 'work_dirs/ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x/epoch_48.pth'
model = dict(
    roi_head=dict(bbox_head=[
        dict(head, image_loss_weight=0.1)
        for head in _base_.model.roi_head.bbox_head
    ]))
# Detic alternates whole batches per GPU (8 box images at 640 px or 32
# image-labelled ones at 320 px, 1:4); here every batch mixes the two sets
# 1:4: 2 + 8 per GPU, the batch padded to 640 px. An epoch is one pass over
# the LVIS boxes at 2 per GPU (MultiSourceEpochSampler; mmdet's
# MultiSourceSampler never ends an epoch), so 12 epochs make as many
# iterations as the box-only config's 48 at 8 per GPU: Detic's "ft4x", a
# second 4x schedule.
train_dataloader = dict(
    batch_size=10,
    sampler=dict(
        _delete_=True,
        type='MultiSourceEpochSampler',
        batch_size=10,
        source_ratio=[1, 4]),
    batch_sampler=None,
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        ignore_keys=['palette'],
        datasets=[
            _base_.lvis_train_set,
            dict(
                _base_.image_label_set,
                pipeline=[
                    dict(t, with_mask=True) if t['type'] == 'LoadAnnotations'
                    else t for t in _base_.image_pipeline
                ])
        ]))
auto_scale_lr = dict(enable=False, base_batch_size=80)
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=max_epochs, T_max=max_epochs)
]
