# Cross-dataset with Detic's image labels (Detic's
# Detic_LI_CLIP_R5021k_640b64_4x_ft4x_max-size with the POMP prompt, the
# model of its cross-dataset table): CenterNet2 on the boxes and masks of
# all of LVIS v1 plus ImageNet-LVIS images with the max-size loss (weight
# 0.1, every stage; image-labelled images train no proposal loss), tested
# on COCO val2017 and Objects365 v2 val in one run (coco/bbox_mAP_50,
# o365/bbox_mAP_50). Paper (Detic + POMP): AP50 58.0 / 23.4. Detic
# fine-tunes its BoxSup model ("ft4x"): train
# xd-coco-o365_pomp_centernet2_r50_fpn_4x_lvis.py first, then this one from
# its checkpoint (load_from below). Batches mix box and image-labelled
# images 1:4 (see _base_/imagenet-lvis_image-labels.py).
_base_ = [
    './ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x.py',
    './_base_/centernet2_proposals.py',
    './_base_/imagenet-lvis_image-labels.py',
    './_base_/cross-dataset_test-sets.py'
]

load_from = ('work_dirs/xd-coco-o365_pomp_centernet2_r50_fpn_4x_lvis/'
             'epoch_48.pth')
model = dict(
    _base_.centernet2_on_cascade,
    roi_head=dict(
        _base_.centernet2_on_cascade.roi_head,
        bbox_head=[
            dict(head, image_loss_weight=0.1, loss_cls=dict(
                head.loss_cls,
                cat_freq_path=_base_.data_root + _base_.lvis_all_ann))
            for head in _base_.model.roi_head.bbox_head
        ]))
train_dataloader = dict(
    _base_.box_and_image_label_loader,
    dataset=dict(
        _base_.box_and_image_label_concat,
        datasets=[
            dict(_base_.lvis_train_set,
                 dataset=dict(_base_.lvis_train_set.dataset,
                              ann_file=_base_.lvis_all_ann)),
            _base_.image_label_set_with_masks
        ]))
auto_scale_lr = _base_.box_and_image_label_lr_scaling
max_epochs = _base_.ft4x_epochs
train_cfg = _base_.ft4x_train_cfg
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=max_epochs, T_max=max_epochs)
]
val_dataloader = dict(
    dataset=dict(_delete_=True, **_base_.coco_and_o365_test_set))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, **_base_.coco_and_o365_metric)
test_evaluator = val_evaluator
