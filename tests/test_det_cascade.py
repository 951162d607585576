"""The cascade + mask config (ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x)
trains and tests end to end on generated LVIS-format data with masks.

The images and the LVIS v1 json (1203 categories, a rectangle polygon per
box) are generated; mmdet's real ``LVISV1Dataset`` reads them and its
``LVISMetric`` reports bbox and segm AP. The detector is shrunk (ResNet-18
with 8 base channels, 96 px, the tiny random CLIP) and trained for two
iterations, once per module.
"""
import itertools
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner, load_checkpoint

import pomp_mm.det  # noqa: F401
from pomp_mm.core import FrozenCLIP, PompPromptLearner, load_prompt
from pomp_mm.core.checkpoint import safe_torch_load, save_prompt
from pomp_mm.det import PompCascadeRoIHead, remove_rare, resolve_vocabulary
from test_det_configs import (CONFIGS, SIZE, coco_json, image_label_json,
                              lvis_categories, make_images, set_data,
                              shrink_data)

CONFIG = 'ov-lvis_pomp_cascade-mask-rcnn_r50_fpn_4x.py'
STAGES = 3


def add_rectangle_masks(path):
    """Give every box of a COCO/LVIS json its rectangle as a polygon."""
    data = json.load(open(path))
    for ann in data['annotations']:
        x, y, w, h = ann['bbox']
        ann['segmentation'] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    with open(path, 'w') as f:
        json.dump(data, f)
    return data


def shrink_cascade(cfg, clip_weights, prompt, work_dir):
    """shrink() of test_det_configs for the 3-stage cascade with masks
    (the model; shrink_data() does the rest)."""
    m = cfg.model
    m.backbone = dict(type='ResNet', depth=18, base_channels=8,
                      out_indices=(0, 1, 2, 3), norm_eval=False,
                      init_cfg=None)
    m.neck = dict(type='FPN', in_channels=[8, 16, 32, 64], out_channels=16,
                  num_outs=5)
    m.rpn_head.in_channels = m.rpn_head.feat_channels = 16
    m.roi_head.bbox_roi_extractor.out_channels = 16
    m.roi_head.mask_roi_extractor.out_channels = 16
    m.roi_head.mask_head.update(in_channels=16, conv_out_channels=8,
                                num_convs=1)
    learner = dict(type='PompPromptLearner', prompt_checkpoint=prompt,
                   clip=dict(type='FrozenCLIP', model_name='pomp-test-vit',
                             checkpoint=clip_weights, text_only=True))
    for head in m.roi_head.bbox_head:
        head.in_channels, head.fc_out_channels = 16, 32
    # stage 0 names the text side, stage 1 the same one, stage 2 none
    m.roi_head.bbox_head[0].cls_predictor_cfg.prompt_learner = learner
    m.roi_head.bbox_head[1].cls_predictor_cfg.prompt_learner = learner
    m.data_preprocessor.batch_augments[0].size = (SIZE, SIZE)
    m.train_cfg.rpn.sampler.num = 64
    for stage in m.train_cfg.rcnn:
        stage.sampler.num = 32
    m.train_cfg.rpn_proposal.nms_pre = 200
    m.train_cfg.rpn_proposal.max_per_img = 100
    m.test_cfg.rpn.nms_pre = m.test_cfg.rpn.max_per_img = 50
    m.test_cfg.rcnn.max_per_img = 20
    m.test_cfg.rcnn.score_thr = 0.0
    shrink_data(cfg, work_dir)
    cfg.train_dataloader.batch_size = 2
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.randomness = dict(seed=0)
    return cfg


class LossLog(Hook):
    """Keeps the loss dict of every training iteration."""

    def __init__(self):
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses.append({k: float(v) for k, v in outputs.items()})


class StageScores:
    """Forward hooks on the stages' bbox heads: the class-score widths."""

    def __init__(self, model):
        self.widths = {k: [] for k in range(STAGES)}
        self.handles = [
            head.register_forward_hook(
                lambda mod, args, out, k=k: self.widths[k].append(
                    out[0].shape[1]))
            for k, head in enumerate(model.roi_head.bbox_head)]

    def remove(self):
        for h in self.handles:
            h.remove()


def lvis_with_masks(tmp):
    """4 generated LVIS images with rectangle masks under ``tmp/lvis``
    (rare boxes removed) and a random prompt file: (root, norare json,
    prompt)."""
    root = tmp / 'lvis'
    root.mkdir()
    cats = lvis_categories()
    ids = [c['id'] for c in cats if c['image_count'] > 0][:6]
    full = coco_json(root / 'lvis_v1_train.json', make_images(root, 4), cats,
                     ids, lvis=True)
    add_rectangle_masks(full)
    norare = str(root / 'lvis_v1_train_norare.json')
    assert remove_rare(full, norare) > 0
    # LVISV1Dataset reads the file name from coco_url ('train2017/<name>')
    (root / 'train2017').symlink_to(root, target_is_directory=True)
    prompt = str(tmp / 'prompt.pth')
    save_prompt(prompt, 0.5 * torch.randn(
        4, 32, generator=torch.Generator().manual_seed(1)), epoch=1)
    return root, norare, prompt


def use_lvis_data(cfg, root, norare):
    """Point a shrunk cascade config at :func:`lvis_with_masks`' data."""
    for head in cfg.model.roi_head.bbox_head:
        head.loss_cls.cat_freq_path = norare
    set_data(cfg.train_dataloader, root, norare)
    set_data(cfg.test_dataloader, root, norare)
    cfg.test_evaluator.ann_file = norare


@pytest.fixture(scope='module')
def trained(tmp_path_factory, clip_weights):
    """The config trained 2 iterations (batch 2) on 4 generated LVIS images
    with masks, a frozen prompt from a file; its runner and records."""
    tmp = tmp_path_factory.mktemp('cascade')
    root, norare, prompt = lvis_with_masks(tmp)
    cfg = Config.fromfile(osp.join(CONFIGS, CONFIG))
    shrink_cascade(cfg, clip_weights, prompt, tmp / 'work')
    use_lvis_data(cfg, root, norare)
    runner = Runner.from_cfg(cfg)
    log = LossLog()
    runner.register_hook(log)
    scores = StageScores(runner.model)
    runner.train()
    scores.remove()
    return dict(runner=runner, cfg=cfg, log=log, train_widths=scores.widths,
                ckpt=str(tmp / 'work' / 'epoch_1.pth'), norare=norare)


def test_config_builds_a_3_stage_cascade_with_a_class_agnostic_mask_head():
    cfg = Config.fromfile(osp.join(CONFIGS, CONFIG))
    roi = cfg.model.roi_head
    assert roi.type == 'PompCascadeRoIHead' and roi.num_stages == STAGES
    assert [h.type for h in roi.bbox_head] == ['PompBBoxHead'] * STAGES
    assert all(h.reg_class_agnostic and h.num_classes == 1203 and
               h.cls_predictor_cfg.type == 'PompZeroShotClassifier' and
               h.loss_cls.use_fed_loss for h in roi.bbox_head)
    # one text side, named by stage 0 only
    assert roi.bbox_head[0].cls_predictor_cfg.prompt_learner.clip.type == \
        'FrozenCLIP'
    assert all('prompt_learner' not in h.cls_predictor_cfg and
               'zs_weight_path' not in h.cls_predictor_cfg
               for h in roi.bbox_head[1:])
    assert [s.assigner.pos_iou_thr for s in cfg.model.train_cfg.rcnn] == [
        0.6, 0.7, 0.8]
    assert roi.mask_head.class_agnostic
    # a local file, no torchvision:// download
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained' and '://' not in init.checkpoint
    assert cfg.test_evaluator.type == 'LVISMetric'
    assert list(cfg.test_evaluator.metric) == ['bbox', 'segm']


def test_two_iterations_every_stage_and_mask_loss_finite(trained):
    log = trained['log'].losses
    assert len(log) == 2
    want = {f's{k}.{name}' for k in range(STAGES)
            for name in ('loss_cls', 'loss_bbox', 'loss_mask')}
    want |= {'loss_rpn_cls', 'loss_rpn_bbox', 'loss'}
    for losses in log:
        assert want <= set(losses)
        assert all(np.isfinite(v) for v in losses.values()), losses
        assert losses['s0.loss_mask'] > 0 and losses['s0.loss_cls'] > 0
    # trained on the 1203 LVIS classes in every stage (C + 1 columns)
    assert trained['runner'].model.vocabulary == resolve_vocabulary(
        'lvis_v1')
    for k in range(STAGES):
        assert trained['train_widths'][k] and set(
            trained['train_widths'][k]) == {1204}


def test_stages_share_one_text_side(trained):
    model = trained['runner'].model
    clfs = model.classifiers()
    assert len(clfs) == STAGES
    assert clfs == model.roi_head.classifiers()
    learner = clfs[0].prompt_learner
    assert all(c.prompt_learner is learner for c in clfs)
    assert sum(isinstance(m, PompPromptLearner)
               for m in model.modules()) == 1
    assert sum(isinstance(m, FrozenCLIP) for m in model.modules()) == 1
    # a later stage's classifier owns its projection only
    for c in clfs[1:]:
        assert sum(p.numel() for p in c.parameters()) == \
            c.in_features * c.zs_weight_dim + c.zs_weight_dim
    assert sum(p.numel() for p in clfs[0].parameters()) > \
        sum(p.numel() for p in learner.clip.parameters())
    # one text-feature tensor, encoded once for the 3 stages
    calls = []
    encode = learner.encode_vocabulary
    learner.encode_vocabulary = lambda *a, **k: calls.append(1) or encode(
        *a, **k)
    try:
        for c in clfs:
            c.set_vocabulary(['cat', 'dog', 'zebra'])
        weights = [c.class_weight() for c in clfs]
    finally:
        del learner.encode_vocabulary
    assert len(calls) == 1
    assert all(w.data_ptr() == weights[0].data_ptr() for w in weights)
    want = learner.encode_vocabulary(normalize=True)  # 3 rows, independent
    torch.testing.assert_close(weights[0][:, :3].t(), want)
    assert weights[0][:, 3].abs().max() == 0  # background column
    # stages set apart (no detector does) still score their own names
    clfs[1].set_vocabulary(['zebra'])
    w0, w1 = clfs[0].class_weight(), clfs[1].class_weight()
    assert w0.shape[1] == 4 and w1.shape[1] == 2
    assert learner.class_names == ['zebra']
    torch.testing.assert_close(w1[:, 0], want[2])
    torch.testing.assert_close(clfs[0].class_weight(), weights[0])
    clfs[1].set_vocabulary(['cat', 'dog', 'zebra'])
    # the one prompt route loads one learner, and every stage follows it
    other = str(trained['ckpt'] + '.prompt2.pth')
    save_prompt(other, 0.5 * torch.randn(
        4, 32, generator=torch.Generator().manual_seed(2)), epoch=1)
    assert load_prompt(model, other, log=False) == [
        'roi_head.bbox_head.0.fc_cls.prompt_learner']
    after = [c.class_weight() for c in clfs]
    assert all(w.data_ptr() == after[0].data_ptr() for w in after)
    assert (after[0] - weights[0]).abs().max() > 1e-3
    torch.testing.assert_close(after[0][:, :3].t(),
                               learner.encode_vocabulary(normalize=True))


def test_test_reports_bbox_and_segm_and_swaps_every_stage(trained):
    runner, model = trained['runner'], trained['runner'].model
    scores = StageScores(model)
    try:
        metrics = runner.test()
    finally:
        scores.remove()
    for kind in ('bbox', 'segm'):
        assert {f'lvis/{kind}_AP', f'lvis/{kind}_APr'} <= set(metrics)
        assert 0 <= metrics[f'lvis/{kind}_AP'] <= 1
    # the test set's 1203 classes (data_sample.text) in every stage
    assert all(set(scores.widths[k]) == {1204} for k in range(STAGES))
    # a test vocabulary swap reaches all 3 stages
    coco = resolve_vocabulary('coco')
    model.set_vocabulary(coco, 'test')
    loader = runner.build_dataloader(trained['cfg'].test_dataloader)
    batch = next(iter(loader))
    scores = StageScores(model)
    model.eval()
    with torch.no_grad():
        samples = model.test_step(batch)
    scores.remove()
    assert all(scores.widths[k] == [81] for k in range(STAGES))
    assert all(c.zs_weight.shape[1] == 81 for c in model.classifiers())
    pred = samples[0].pred_instances
    assert len(pred) > 0 and int(pred.labels.max()) < 80
    assert pred.label_names == [coco[i] for i in pred.labels.tolist()]
    assert pred.masks.shape[0] == len(pred)


def test_frozen_prompt_and_clip_are_not_in_the_checkpoint(trained):
    state = safe_torch_load(trained['ckpt'])['state_dict']
    assert not [k for k in state if 'prompt_learner' in k]
    for k in range(STAGES):
        assert f'roi_head.bbox_head.{k}.fc_cls.linear.weight' in state
        # class-agnostic masks: one output channel per stage
        assert state[f'roi_head.mask_head.{k}.conv_logits.weight'].shape[
            0] == 1
    # a fresh detector takes the checkpoint strictly (nothing missing)
    from mmdet.registry import MODELS
    model = MODELS.build(trained['cfg'].model)
    load_checkpoint(model, trained['ckpt'], strict=True)
    assert isinstance(model.roi_head, PompCascadeRoIHead)
    for k in range(STAGES):
        torch.testing.assert_close(
            model.roi_head.bbox_head[k].fc_cls.linear.weight,
            state[f'roi_head.bbox_head.{k}.fc_cls.linear.weight'])


def test_stages_with_different_text_sides_are_an_error():
    cfg = Config.fromfile(osp.join(CONFIGS, CONFIG))
    heads = cfg.model.roi_head.bbox_head
    heads[2].cls_predictor_cfg = dict(type='PompZeroShotClassifier',
                                      zs_weight_path='other.npy')
    with pytest.raises(ValueError, match=r'bbox_head\[2\]\.cls_predictor_cfg'
                       r'\.prompt_learner differs from bbox_head\[0\]'):
        PompCascadeRoIHead(bbox_roi_extractor=cfg.model.roi_head
                           .bbox_roi_extractor, bbox_head=list(heads),
                           num_stages=STAGES,
                           stage_loss_weights=[1, 0.5, 0.25])


def _bce_by_hand(logits, labels, num_classes):
    """Detic's _max_size_loss for one image, written out: the sigmoid BCE
    of the box's logits (background column dropped) towards each label in
    turn, summed over classes, averaged over the labels."""
    p = torch.sigmoid(logits[:num_classes].double())
    per_label = []
    for label in labels:
        t = torch.zeros(num_classes, dtype=torch.float64)
        t[label] = 1
        per_label.append(-(t * p.log() + (1 - t) * (1 - p).log()).sum())
    return torch.stack(per_label).mean()


def test_image_label_loss_every_stage_by_hand(trained):
    model = trained['runner'].model
    roi = model.roi_head
    model.train()
    model._use_vocabulary('train')
    loader = trained['runner'].build_dataloader(trained['cfg'].test_dataloader)
    data = model.data_preprocessor(next(iter(loader)), False)
    x = model.extract_feat(data['inputs'][:1].repeat(2, 1, 1, 1))
    metas = [dict(img_shape=(SIZE, SIZE))] * 2
    # image 0: the largest box is the second; image 1: the first
    boxes = [torch.tensor([[10., 10., 30., 30.], [0., 5., 80., 90.],
                           [40., 40., 60., 50.]]),
             torch.tensor([[5., 5., 90., 70.], [20., 20., 40., 40.]])]
    labels = [torch.tensor([3, 7]), torch.tensor([1200])]
    losses = roi.image_label_loss(x, boxes, labels, metas)
    assert set(losses) == {f's{k}.loss_image' for k in range(STAGES)}
    num_classes = 1203
    stage_boxes = [b.clone() for b in boxes]
    for k in range(STAGES):
        head = roi.bbox_head[k]
        rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b],
                                    1) for i, b in enumerate(stage_boxes)])
        out = roi._bbox_forward(k, x, rois)
        start, per_image = 0, []
        for b, lab in zip(stage_boxes, labels):
            area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
            per_image.append(_bce_by_hand(
                out['cls_score'][start + int(area.argmax())], lab.tolist(),
                num_classes))
            start += len(b)
        want = roi.stage_loss_weights[k] * head.image_loss_weight * \
            torch.stack(per_image).mean()
        torch.testing.assert_close(losses[f's{k}.loss_image'].double(), want,
                                   rtol=1e-5, atol=1e-6)  # fp32 vs fp64
        # the next stage scores this stage's regressed boxes (Detic)
        deltas = out['bbox_pred'].detach().split(
            [len(b) for b in stage_boxes])
        stage_boxes = [head.bbox_coder.decode(b, d, max_shape=(SIZE, SIZE))
                       for b, d in zip(stage_boxes, deltas)]
    # every stage's projection learns from it; the boxes carry no gradient
    sum(losses.values()).backward()
    for head in roi.bbox_head:
        assert head.fc_cls.linear.weight.grad.abs().sum() > 0
    model.zero_grad()


def test_max_size_chooses_among_the_top_scoring_proposals(trained,
                                                         monkeypatch):
    """Detic's WS_NUM_PROPS: the max-size loss sees only an image's
    ws_num_props highest-scoring proposals, so a large low-scoring box is
    not the one trained."""
    from mmengine.structures import InstanceData
    from mmdet.structures import DetDataSample
    model = trained['runner'].model
    props = InstanceData(
        bboxes=torch.tensor([[0., 0., 95., 95.], [10., 10., 60., 60.],
                             [20., 20., 40., 40.], [5., 5., 80., 70.]]),
        scores=torch.tensor([0.1, 0.9, 0.8, 0.2]))
    monkeypatch.setattr(model.rpn_head, 'predict',
                        lambda x, samples, rescale: [props])
    seen = []
    monkeypatch.setattr(model.roi_head, 'image_label_loss',
                        lambda x, boxes, labels, metas: seen.append(boxes))
    sample = DetDataSample(metainfo=dict(img_shape=(SIZE, SIZE),
                                         image_labels=[3]))
    for k, want in ((2, [1, 2]), (3, [1, 2, 3]), (128, [1, 2, 3, 0])):
        monkeypatch.setattr(model, 'ws_num_props', k)
        model._image_label_loss(None, [sample])
        assert torch.equal(seen[-1][0], props.bboxes[want])


def test_ws_num_props_must_be_positive():
    with pytest.raises(ValueError) as e:  # before anything is built
        pomp_mm.det.PompTwoStageDetector(backbone=None, ws_num_props=0)
    assert str(e.value) == ('PompTwoStageDetector: ws_num_props=0; '
                            'expected an int >= 1')


def test_caption_loss_refuses_a_cascade(clip_weights, tmp_path):
    cfg = Config.fromfile(osp.join(CONFIGS, CONFIG))
    shrink_cascade(cfg, clip_weights, None, tmp_path)
    for head in cfg.model.roi_head.bbox_head:
        head.loss_cls.use_fed_loss = False  # no frequency file needed
    cfg.model.with_caption = True
    with pytest.raises(ValueError) as e:
        MODELS.build(cfg.model)
    assert str(e.value) == (
        'PompTwoStageDetector: with_caption=True needs a single-stage RoI '
        'head (Detic adds the caption loss in OV-COCO only, on its Res5 '
        'head); got PompCascadeRoIHead')


@pytest.mark.slow
def test_max_size_config_trains_every_stage_on_image_labels(
        trained, clip_weights, tmp_path):
    """The image-label cascade config: a mixed batch (1 box + 4
    image-labelled images) gives the box losses and s{k}.loss_image of all
    3 stages, all finite."""
    root = osp.dirname(trained['norare'])
    ann = image_label_json(root, lvis_categories(),
                           [5 * i + 2 for i in range(4)], seed=3)
    cfg = Config.fromfile(osp.join(
        CONFIGS, CONFIG.replace('.py', '_max-size.py')))
    prompt = trained['cfg'].model.roi_head.bbox_head[0].cls_predictor_cfg \
        .prompt_learner.prompt_checkpoint
    shrink_cascade(cfg, clip_weights, prompt, tmp_path / 'work')
    for head in cfg.model.roi_head.bbox_head:
        head.loss_cls.cat_freq_path = trained['norare']
    box_set, image_set = cfg.train_dataloader.dataset.datasets
    box_set.dataset.update(data_root=root, ann_file=trained['norare'],
                           data_prefix=dict(img=''))
    image_set.update(data_root=root, ann_file=ann)
    cfg.train_dataloader.batch_size = cfg.train_dataloader.sampler \
        .batch_size = 5
    cfg.load_from = None
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
    runner = Runner.from_cfg(cfg)
    log = LossLog()
    runner.register_hook(log)
    loader = runner.build_dataloader(cfg.train_dataloader)
    batch = next(iter(loader))
    kinds = ['image_labels' in s.metainfo for s in batch['data_samples']]
    assert kinds.count(True) == 4 and kinds.count(False) == 1
    # an epoch is one pass over the box images (1 per batch here) and it
    # ends: mmdet's MultiSourceSampler never ends one, so the config's
    # EpochBasedTrainLoop would have run its first epoch for ever
    assert len(loader) == len(loader.dataset.datasets[0])
    assert sum(1 for _ in itertools.islice(loader, len(loader) + 1)) == len(
        loader)
    own = Config.fromfile(osp.join(CONFIGS,
                                   CONFIG.replace('.py', '_max-size.py')))
    assert own.train_cfg.max_epochs == 12
    assert own.param_scheduler[-1].end == own.param_scheduler[-1].T_max == 12
    runner.train()
    (losses, ) = log.losses
    want = {f's{k}.{name}' for k in range(STAGES)
            for name in ('loss_cls', 'loss_bbox', 'loss_mask', 'loss_image')}
    assert want <= set(losses)
    assert all(np.isfinite(v) for v in losses.values()), losses
    assert all(losses[f's{k}.loss_image'] > 0 for k in range(STAGES))


def test_prompt_alone_error_names_the_cascade_prompt_key(trained):
    """A prompt file as a cascade's checkpoint: the error names stage 0's
    prompt key, the one this config reads (not a single-head path)."""
    from pomp_mm.compat.mmengine import _refuse_untrained_detector
    from pomp_mm.core.checkpoint import CheckpointMismatchError
    with pytest.raises(CheckpointMismatchError) as e:
        _refuse_untrained_detector(trained['runner'].model, 'p.pth')
    assert ('--cfg-options model.roi_head.bbox_head.0.cls_predictor_cfg.'
            'prompt_learner.prompt_checkpoint=PROMPT.pth)') in str(e.value)
