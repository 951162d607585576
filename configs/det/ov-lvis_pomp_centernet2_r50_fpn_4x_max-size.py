# OV-LVIS with Detic's image labels on CenterNet2 (Detic's
# Detic_LbaseI_CLIP_R5021k_640b64_4x_ft4x_max-size with the POMP prompt):
# ov-lvis_pomp_centernet2_r50_fpn_4x.py (LVIS base boxes and masks,
# CenterNet proposals, the 3-stage cascade that classifies with the
# prompt's text features, federated loss, 640 px LSJ) plus ImageNet-LVIS
# images whose largest proposal is trained towards their image label in
# every stage (max-size loss, weight 0.1); image-labelled images train no
# proposal loss. Detic fine-tunes its BoxSup model ("ft4x"): train
# ov-lvis_pomp_centernet2_r50_fpn_4x.py first, then this one from its
# checkpoint (load_from below). Batches mix box and image-labelled images
# 1:4 (see _base_/imagenet-lvis_image-labels.py).
_base_ = [
    './ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x.py',
    './_base_/centernet2_proposals.py',
    './_base_/imagenet-lvis_image-labels.py'
]

load_from = 'work_dirs/ov-lvis_pomp_centernet2_r50_fpn_4x/epoch_48.pth'
model = dict(
    _base_.centernet2_on_cascade,
    roi_head=dict(
        _base_.centernet2_on_cascade.roi_head,
        bbox_head=[
            dict(head, image_loss_weight=0.1)
            for head in _base_.model.roi_head.bbox_head
        ]))
train_dataloader = dict(
    _base_.box_and_image_label_loader,
    dataset=dict(
        _base_.box_and_image_label_concat,
        datasets=[_base_.lvis_train_set, _base_.image_label_set_with_masks]))
auto_scale_lr = _base_.box_and_image_label_lr_scaling
max_epochs = _base_.ft4x_epochs
train_cfg = _base_.ft4x_train_cfg
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=max_epochs, T_max=max_epochs)
]
