# Cross-dataset, box-supervised CenterNet2 (Detic's
# BoxSup-C2_L_CLIP_R5021k_640b64_4x with the POMP prompt): the model and
# schedule of ov-lvis_pomp_centernet2_r50_fpn_4x.py trained on the boxes and
# masks of all 1203 LVIS v1 classes (the federated loss with all-LVIS
# frequencies), tested on COCO val2017 and Objects365 v2 val in one run
# (coco/bbox_mAP_50, o365/bbox_mAP_50; _base_/cross-dataset_test-sets.py).
# Its checkpoint is what the image-label config
# xd-coco-o365_pomp_centernet2_r50_fpn_4x_lvis-i_max-size.py fine-tunes.
_base_ = [
    './ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x.py',
    './_base_/centernet2_proposals.py',
    './_base_/cross-dataset_test-sets.py'
]

model = dict(
    _base_.centernet2_on_cascade,
    roi_head=dict(
        _base_.centernet2_on_cascade.roi_head,
        bbox_head=[
            dict(head, loss_cls=dict(
                head.loss_cls,
                cat_freq_path=_base_.data_root + _base_.lvis_all_ann))
            for head in _base_.model.roi_head.bbox_head
        ]))
train_dataloader = dict(
    dataset=dict(dataset=dict(ann_file=_base_.lvis_all_ann)))
val_dataloader = dict(
    dataset=dict(_delete_=True, **_base_.coco_and_o365_test_set))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, **_base_.coco_and_o365_metric)
test_evaluator = val_evaluator
