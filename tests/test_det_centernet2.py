"""CenterNet2's proposals on the cascade (ov-lvis_pomp_centernet2_r50_fpn_4x):
a class-agnostic CenterNet head as the RPN, P3-P7, and CenterNet2's
probabilistic test score, trained and tested on generated LVIS data with
masks (the set-up of test_det_cascade, shrunk)."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import pomp_mm.det  # noqa: F401
from pomp_mm.det import resolve_vocabulary
from test_det_cascade import (STAGES, LossLog, lvis_with_masks,
                              shrink_cascade, use_lvis_data)
from test_det_configs import CONFIGS, coco_data  # noqa: F401 (fixture)

CONFIG = 'ov-lvis_pomp_centernet2_r50_fpn_4x.py'


def test_config_builds_centernet_proposals_on_p3_p7():
    cfg = Config.fromfile(osp.join(CONFIGS, CONFIG))
    m = cfg.model
    assert m.rpn_head.type == 'PompCenterNetRPNHead'
    assert m.rpn_head.num_classes == 1
    assert m.rpn_head.strides == [8, 16, 32, 64, 128]
    assert m.rpn_head.reg_bias_init == 8.0  # CenterNet2's bbox_pred.bias
    assert 'anchor_generator' not in m.rpn_head  # _delete_ took RPNHead's
    assert m.backbone.out_indices == (1, 2, 3)
    assert m.neck.in_channels == [512, 1024, 2048]
    assert m.roi_head.type == 'PompCascadeRoIHead'
    assert m.roi_head.mult_proposal_score is True
    assert m.roi_head.bbox_roi_extractor.featmap_strides == [8, 16, 32]
    assert m.test_cfg.rpn.max_per_img == 256
    assert m.train_cfg.rpn_proposal.nms.iou_threshold == 0.9


def test_new_head_starts_every_distance_above_the_clamp():
    """CenterNet2's bbox_pred.bias = 8: every distance of a new head is
    positive, so clamp(min=0) passes every location's gradient; mmdet's
    initialisation (bias 0) starts about half of them at the clamp, where
    a distance that stays below 0 never learns again."""
    from mmdet.registry import MODELS
    cfg = Config.fromfile(osp.join(CONFIGS, CONFIG)).centernet2_rpn_head
    cfg.update(in_channels=16, feat_channels=16, stacked_convs=1,
               norm_cfg=dict(type='GN', num_groups=4, requires_grad=True))
    torch.manual_seed(0)
    feats = tuple(torch.randn(2, 16, 32 // 2**i, 32 // 2**i)
                  for i in range(5))

    def distances(head):
        head.train()
        return torch.cat([p.flatten() for p in head(feats)[1]])

    head = MODELS.build(cfg)
    head.init_weights()
    assert head.conv_reg.bias.tolist() == [8.0] * 4
    d = distances(head)
    assert (d > 0).all()
    d.sum().backward()
    # the clamp passes a gradient of 1 to each of the 2*N*N locations
    assert torch.allclose(head.conv_reg.bias.grad,
                          torch.full((4,), float(d.numel() // 4)))
    # a second call keeps what training learnt
    with torch.no_grad():
        head.conv_reg.bias.fill_(3.0)
    head.init_weights()
    assert head.conv_reg.bias.tolist() == [3.0] * 4

    mmdet_init = MODELS.build(dict(cfg, reg_bias_init=None))
    mmdet_init.init_weights()
    assert mmdet_init.conv_reg.bias.tolist() == [0.0] * 4
    share_clamped = (distances(mmdet_init) == 0).float().mean()
    assert 0.2 < share_clamped < 0.8


def shrink_centernet2(cfg, clip_weights, prompt, work_dir):
    """shrink_cascade() plus the CenterNet head on the shrunk ResNet-18."""
    shrink_cascade(cfg, clip_weights, prompt, work_dir)
    m = cfg.model
    # C3-C5 of the shrunk ResNet-18 (8 base channels) into P3-P7
    m.backbone.out_indices = (1, 2, 3)
    m.neck.in_channels = [16, 32, 64]
    m.rpn_head.update(stacked_convs=1,
                      norm_cfg=dict(type='GN', num_groups=4,
                                    requires_grad=True))
    return cfg


@pytest.fixture(scope='module')
def trained(tmp_path_factory, clip_weights):
    """2 iterations (batch 2) on 4 generated LVIS images with masks."""
    tmp = tmp_path_factory.mktemp('centernet2')
    root, norare, prompt = lvis_with_masks(tmp)
    cfg = Config.fromfile(osp.join(CONFIGS, CONFIG))
    shrink_centernet2(cfg, clip_weights, prompt, tmp / 'work')
    use_lvis_data(cfg, root, norare)
    runner = Runner.from_cfg(cfg)
    log = LossLog()
    runner.register_hook(log)
    runner.train()
    return dict(runner=runner, cfg=cfg, log=log,
                ckpt=str(tmp / 'work' / 'epoch_1.pth'))


def test_two_iterations_rpn_and_every_stage_finite(trained):
    log = trained['log'].losses
    assert len(log) == 2
    for losses in log:
        # CenterNet's heatmap focal loss and GIoU, as rpn_* losses
        for name in ['rpn_loss_cls', 'rpn_loss_bbox'] + [
                f's{k}.{n}' for k in range(STAGES)
                for n in ('loss_cls', 'loss_bbox', 'loss_mask')]:
            assert name in losses and torch.isfinite(
                torch.tensor(losses[name])), (name, losses)


def test_training_proposals_are_the_test_proposals(trained):
    """The proposals the RoI heads (and the max-size loss) get in training
    are the boxes the head gives at test, in pixels; mmdet's
    CenterNetUpdateHead gives them in stride units while training."""
    from mmdet.models.dense_heads import CenterNetUpdateHead
    runner = trained['runner']
    model = runner.model.eval()
    loader = runner.build_dataloader(trained['cfg'].test_dataloader)
    batch = model.data_preprocessor(next(iter(loader)), False)
    head = model.rpn_head
    cfg = model.train_cfg.rpn_proposal
    with torch.no_grad():
        x = model.extract_feat(batch['inputs'])
        metas = [s.metainfo for s in batch['data_samples']]
        test = head.predict_by_feat(*head(x), batch_img_metas=metas,
                                    cfg=cfg)
        head.train()
        try:
            outs = head(x)
            train = head.predict_by_feat(*outs, batch_img_metas=metas,
                                         cfg=cfg)
            stock = CenterNetUpdateHead.predict_by_feat(
                head, *outs, batch_img_metas=metas, cfg=cfg)
        finally:
            head.eval()
    for t, r, m in zip(test, train, stock):
        assert len(t) > 0
        torch.testing.assert_close(r.bboxes, t.bboxes)
        torch.testing.assert_close(r.scores, t.scores)
        # the stock head's training boxes are far smaller than its own
        # test boxes (stride units, not pixels)
        area = (t.bboxes[:, 2:] - t.bboxes[:, :2]).prod(1).max()
        stock_area = (m.bboxes[:, 2:] - m.bboxes[:, :2]).prod(1).max()
        assert stock_area < area / 16


def test_test_score_is_centernet2s(trained):
    """Every box's class score is sqrt(mean of the stages' sigmoids x the
    proposal's score), computed here from the stages' own logits; with
    mult_proposal_score off it is mmdet's sigmoid of the mean logit."""
    runner = trained['runner']
    model = runner.model.eval()
    loader = runner.build_dataloader(trained['cfg'].test_dataloader)
    batch = model.data_preprocessor(next(iter(loader)), False)
    inputs, samples = batch['inputs'], batch['data_samples']
    head = model.roi_head
    logits = []
    hooks = [h.register_forward_hook(
        lambda mod, args, out: logits.append(out[0].detach()))
        for h in head.bbox_head]
    try:
        with torch.no_grad():
            model._use_vocabulary('test', samples)
            x = model.extract_feat(inputs)
            proposals = model.rpn_head.predict(x, samples, rescale=False)
            metas = [s.metainfo for s in samples]
            got = head.predict_bbox(x, metas, proposals, None)
            head.mult_proposal_score = False
            logits.clear()
            plain = head.predict_bbox(x, metas, proposals, None)
    finally:
        head.mult_proposal_score = True
        for h in hooks:
            h.remove()
    assert len(logits) == STAGES
    counts = [len(p) for p in proposals]
    assert min(counts) > 0
    probs = torch.stack([lg.sigmoid() for lg in logits]).double().mean(0)
    mean_logit = torch.stack(logits).double().mean(0)
    for i, (p, m) in enumerate(zip(probs.split(counts),
                                   mean_logit.split(counts))):
        ps = proposals[i].scores.double()[:, None]
        want = (p * ps).sqrt()
        torch.testing.assert_close(got[i].scores.double(), want,
                                   rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(plain[i].scores.double(), m.sigmoid(),
                                   rtol=1e-5, atol=1e-6)
        assert not torch.allclose(got[i].scores.double(), m.sigmoid())


def test_test_reports_box_and_mask_ap(trained):
    metrics = trained['runner'].test()
    for kind in ('bbox', 'segm'):
        assert {f'lvis/{kind}_AP', f'lvis/{kind}_APr'} <= set(metrics)
        assert 0 <= metrics[f'lvis/{kind}_AP'] <= 1


def test_proposals_without_scores_are_one_line(trained):
    from mmengine.structures import InstanceData
    head = trained['runner'].model.roi_head
    bare = InstanceData(bboxes=torch.tensor([[0., 0., 8., 8.]]))
    with pytest.raises(ValueError, match='the proposals of image 0 have no '
                       'scores'):
        head.predict_bbox((), [dict(img_shape=(96, 96))], [bare], None)


def test_image_label_and_cross_dataset_configs_are_centernet2():
    """The max-size and cross-dataset configs are the CenterNet2 detector
    of CONFIG with their data: image labels in every stage, all of LVIS
    for the cross-dataset ones, COCO + Objects365 tested in one run."""
    box = Config.fromfile(osp.join(CONFIGS, CONFIG))
    for name, all_lvis, image_labels in [
            (CONFIG.replace('.py', '_max-size.py'), False, True),
            ('xd-coco-o365_pomp_centernet2_r50_fpn_4x_lvis.py', True, False),
            ('xd-coco-o365_pomp_centernet2_r50_fpn_4x_lvis-i_max-size.py',
             True, True)]:
        cfg = Config.fromfile(osp.join(CONFIGS, name))
        heads = cfg.model.roi_head.bbox_head
        for key in ('backbone', 'neck', 'rpn_head'):
            assert cfg.model[key] == box.model[key], (name, key)
        assert cfg.model.train_cfg == box.model.train_cfg
        assert cfg.model.test_cfg == box.model.test_cfg
        assert cfg.model.roi_head.mult_proposal_score is True
        freq = 'data/lvis_v1/annotations/lvis_v1_train' + (
            '.json' if all_lvis else '_norare.json')
        assert [h.loss_cls.cat_freq_path for h in heads] == [freq] * STAGES
        assert [h.get('image_loss_weight', 0) for h in heads] == [
            0.1 if image_labels else 0] * STAGES
        ds = cfg.train_dataloader.dataset
        if image_labels:  # LVIS boxes + ImageNet-LVIS, 1:4 per batch
            assert ds.type == 'ConcatDataset'
            assert ds.datasets[1].type == 'ImageLabelDataset'
            assert cfg.train_dataloader.sampler.source_ratio == [1, 4]
            assert cfg.train_cfg.max_epochs == 12
            # Detic's ft4x: from the box-supervised config's checkpoint
            boxsup = 'ov-lvis_pomp_centernet2_r50_fpn_4x' if not all_lvis \
                else 'xd-coco-o365_pomp_centernet2_r50_fpn_4x_lvis'
            assert cfg.load_from == f'work_dirs/{boxsup}/epoch_48.pth'
            ds = ds.datasets[0]
        assert ds.dataset.ann_file == freq.replace('data/lvis_v1/', '')
        test = cfg.test_dataloader.dataset
        if all_lvis:
            assert [d.type for d in test.datasets] == [
                'CocoDataset', 'Objects365V2Dataset']
            assert all(d.return_classes for d in test.datasets)
            assert cfg.test_evaluator.type == 'MultiDatasetsEvaluator'
            assert cfg.test_evaluator.dataset_prefixes == ['coco', 'o365']
        else:
            assert test.type == 'LVISV1Dataset'


@pytest.mark.slow
def test_max_size_config_trains_image_labels_without_proposal_loss(
        trained, clip_weights, tmp_path):
    """A mixed batch (1 box + 4 image-labelled images): the CenterNet
    proposal losses come from the box image alone (Detic: no proposal loss
    for image labels) and every stage has its max-size loss."""
    from test_det_configs import image_label_json, lvis_categories
    norare = trained['cfg'].test_evaluator.ann_file
    root = osp.dirname(norare)
    ann = image_label_json(root, lvis_categories(),
                           [5 * i + 2 for i in range(4)], seed=3)
    cfg = Config.fromfile(osp.join(CONFIGS,
                                   CONFIG.replace('.py', '_max-size.py')))
    prompt = trained['cfg'].model.roi_head.bbox_head[0].cls_predictor_cfg \
        .prompt_learner.prompt_checkpoint
    shrink_centernet2(cfg, clip_weights, prompt, tmp_path / 'work')
    for head in cfg.model.roi_head.bbox_head:
        head.loss_cls.cat_freq_path = norare
    box_set, image_set = cfg.train_dataloader.dataset.datasets
    box_set.dataset.update(data_root=root, ann_file=norare,
                           data_prefix=dict(img=''))
    image_set.update(data_root=root, ann_file=ann)
    cfg.train_dataloader.batch_size = cfg.train_dataloader.sampler \
        .batch_size = 5
    cfg.load_from = None
    runner = Runner.from_cfg(cfg)
    model = runner.model
    batch = next(iter(runner.build_dataloader(cfg.train_dataloader)))
    data = model.data_preprocessor(batch, True)
    samples = data['data_samples']
    is_box = [i for i, s in enumerate(samples)
              if 'image_labels' not in s.metainfo]
    assert len(is_box) == 1
    model.set_vocabulary(resolve_vocabulary('lvis_v1'), 'train')
    torch.manual_seed(0)
    losses = model.loss(data['inputs'], samples)
    want = {f's{k}.{name}' for k in range(STAGES)
            for name in ('loss_cls', 'loss_bbox', 'loss_mask', 'loss_image')}
    assert want | {'rpn_loss_cls', 'rpn_loss_bbox'} <= set(losses)
    assert all(torch.isfinite(v).all() for k, v in losses.items()
               if 'loss' in k), losses
    assert all(losses[f's{k}.loss_image'] > 0 for k in range(STAGES))
    # the proposal losses are those of the box image on its own
    # (one class-agnostic proposal class, as the detector gives the head)
    box_samples = [copy.deepcopy(samples[i]) for i in is_box]
    for s in box_samples:
        s.gt_instances.labels = torch.zeros_like(s.gt_instances.labels)
    # the batch's features (train-mode BatchNorm: of the whole batch)
    x = tuple(f[is_box] for f in model.extract_feat(data['inputs']))
    alone = model.rpn_head.loss(x, box_samples)
    for k in ('loss_cls', 'loss_bbox'):
        torch.testing.assert_close(losses[f'rpn_{k}'], alone[k])


def o365_json(root, n):
    """n generated images in an Objects365 v2 json (all 365 categories)."""
    from mmdet.datasets import Objects365V2Dataset
    from test_det_configs import coco_json, make_images
    names = Objects365V2Dataset.METAINFO['classes']
    cats = [dict(id=i + 1, name=c) for i, c in enumerate(names)]
    return coco_json(osp.join(root, 'o365_val.json'),
                     make_images(root, n, seed=5), cats, [1, 2, 3]), names


def test_cross_dataset_tests_coco_and_o365_in_one_run(trained, coco_data,
                                                      clip_weights,
                                                      tmp_path):
    """The box-supervised cross-dataset config, with the trained CenterNet2
    weights: one test run over COCO then Objects365 reports both AP50s,
    each image scored with its own test set's class names."""
    from test_det_configs import Collect
    cfg = Config.fromfile(osp.join(
        CONFIGS, 'xd-coco-o365_pomp_centernet2_r50_fpn_4x_lvis.py'))
    prompt = trained['cfg'].model.roi_head.bbox_head[0].cls_predictor_cfg \
        .prompt_learner.prompt_checkpoint
    shrink_centernet2(cfg, clip_weights, prompt, tmp_path / 'work')
    croot, _, cval = coco_data
    o365_root = tmp_path / 'o365'
    o365_root.mkdir()
    oval, o365_names = o365_json(str(o365_root), 2)
    coco_set, o365_set = cfg.test_dataloader.dataset.datasets
    coco_set.update(data_root=str(croot), ann_file=cval,
                    data_prefix=dict(img=''))
    o365_set.update(data_root=str(o365_root), ann_file=oval,
                    data_prefix=dict(img=''))
    coco_metric, o365_metric = cfg.test_evaluator.metrics
    coco_metric.ann_file, o365_metric.ann_file = cval, oval
    for head in cfg.model.roi_head.bbox_head:  # read when it is built
        head.loss_cls.cat_freq_path = trained['cfg'].test_evaluator.ann_file
    cfg.load_from = trained['ckpt']
    runner = Runner.from_cfg(cfg)
    collect = Collect(runner.model)
    metrics = runner.test()
    for prefix in ('coco', 'o365'):
        assert 0 <= metrics[f'{prefix}/coco/bbox_mAP_50'] <= 1, metrics
    coco = resolve_vocabulary('coco')
    names = [set(s.pred_instances.label_names) for s in collect.samples]
    assert len(names) == 5
    assert all(n and n <= set(coco) for n in names[:3])
    assert all(n and n <= set(o365_names) for n in names[3:])
    assert any(n - set(coco) for n in names[3:])


def test_a_test_batch_of_two_vocabularies_is_an_error(trained):
    """COCO and Objects365 images in one test batch: refused, not scored
    with the first image's classes."""
    from mmdet.structures import DetDataSample
    a, b = DetDataSample(), DetDataSample()
    a.set_metainfo(dict(text=('cat', 'dog')))
    b.set_metainfo(dict(text=('person', 'car', 'bus')))
    with pytest.raises(ValueError, match=r'^test batch: image 1 has other '
                       r'class names \(text\) than image 0; one batch is '
                       r'scored with one vocabulary: use test batch_size=1 '
                       r'when test sets with different classes are '
                       r'concatenated$'):
        trained['runner'].model._use_vocabulary('test', [a, b])


@pytest.mark.slow
def test_swin_b_config_trains_on_the_real_backbone(clip_weights, tmp_path):
    """The Swin-B option as configured (Swin-B, its FPN, CenterNet head and
    cascade at full width; only the CLIP is the tiny one and the images
    96 px, padded to 128): one loss on generated LVIS data with masks,
    every loss finite, gradients reach the backbone."""
    cfg = Config.fromfile(osp.join(
        CONFIGS, 'ov-lvis_pomp_centernet2_swin-b_fpn_4x.py'))
    m = cfg.model
    assert (m.backbone.type, m.backbone.embed_dims, m.backbone.depths) == (
        'SwinTransformer', 128, [2, 2, 18, 2])
    assert '://' not in m.backbone.init_cfg.checkpoint  # a local file
    assert m.neck.in_channels == [256, 512, 1024]
    assert m.rpn_head.type == 'PompCenterNetRPNHead'
    assert m.data_preprocessor.batch_augments[0].size == (896, 896)
    pipe = cfg.train_dataloader.dataset.dataset.pipeline
    assert [t.get('scale', t.get('crop_size')) for t in pipe
            if t['type'] in ('RandomResize', 'RandomCrop')] == [(896, 896)] * 2
    assert cfg.train_dataloader.batch_size * 8 == \
        cfg.auto_scale_lr.base_batch_size == 32
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    root, norare, prompt = lvis_with_masks(tmp_path)
    m.backbone.init_cfg = None
    m.data_preprocessor.batch_augments[0].size = (128, 128)
    learner = dict(type='PompPromptLearner', prompt_checkpoint=prompt,
                   clip=dict(type='FrozenCLIP', model_name='pomp-test-vit',
                             checkpoint=clip_weights, text_only=True))
    m.roi_head.bbox_head[0].cls_predictor_cfg.prompt_learner = learner
    from test_det_configs import shrink_data
    shrink_data(cfg, tmp_path / 'work')
    cfg.train_dataloader.batch_size = 2
    use_lvis_data(cfg, root, norare)
    runner = Runner.from_cfg(cfg)
    model = runner.model
    model.set_vocabulary(resolve_vocabulary('lvis_v1'), 'train')
    batch = next(iter(runner.build_dataloader(cfg.train_dataloader)))
    data = model.data_preprocessor(batch, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'rpn_loss_cls', 'rpn_loss_bbox', 's2.loss_cls',
            's2.loss_mask'} <= set(losses)
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    grad = model.backbone.patch_embed.projection.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_proposal_recall_counts_covered_boxes_by_hand():
    from pomp_mm.det.proposal_recall import proposal_recall
    t = torch.tensor
    pairs = [
        # g2 is covered by the first proposal, g1 by the second at IoU
        # exactly 0.5 (50 / 100) and by the third at IoU 1
        (t([[20., 20., 30., 30.], [0., 0., 10., 5.], [0., 0., 10., 10.]]),
         t([[0., 0., 10., 10.], [20., 20., 30., 30.]])),
        (torch.zeros(0, 4), t([[0., 0., 4., 4.]])),  # no proposal
        (t([[0., 0., 4., 4.]]), torch.zeros(0, 4)),  # no box
    ]
    assert proposal_recall(pairs, ks=(1, 2, 3)) == {1: 1 / 3, 2: 2 / 3,
                                                     3: 2 / 3}
    assert proposal_recall(pairs, ks=(2, 3), iou=0.6) == {2: 1 / 3,
                                                          3: 2 / 3}
    with pytest.raises(ValueError, match=r'^proposal recall: the test set '
                       r'has no ground-truth boxes \(does the test pipeline '
                       r'load annotations\?\)$'):
        proposal_recall([(t([[0., 0., 4., 4.]]), torch.zeros(0, 4))])


def test_proposal_recall_records_the_proposals_of_the_test(trained,
                                                           capsys):
    """The recall from the stock test equals the recall of the proposals
    the CenterNet head gives for the same images, called directly."""
    from pomp_mm.core.checkpoint import safe_torch_load
    from pomp_mm.det.proposal_recall import (main, proposal_recall,
                                             test_with_proposal_recall)
    cfg = copy.deepcopy(trained['cfg'])
    metrics, recall = test_with_proposal_recall(cfg, trained['ckpt'],
                                                ks=(5, 50, 256))
    assert 'lvis/bbox_AP' in metrics
    model = trained['runner'].model.eval()
    assert 'predict' not in vars(model.roi_head)  # the hook is gone
    model.load_state_dict(safe_torch_load(trained['ckpt'])['state_dict'])
    pairs = []
    with torch.no_grad():
        for data in trained['runner'].test_dataloader:
            data = model.data_preprocessor(data, False)
            x = model.extract_feat(data['inputs'])
            for props, s in zip(model.rpn_head.predict(
                    x, data['data_samples'], rescale=False),
                    data['data_samples']):
                pairs.append((props.bboxes, s.gt_instances.bboxes))
    assert sum(len(g) for _, g in pairs) > 0
    assert recall == proposal_recall(pairs, ks=(5, 50, 256))
    assert recall[5] <= recall[50] <= recall[256]
    with pytest.raises(ValueError, match=r"^proposal recall: checkpoint "
                       r"'nope\.pth' does not exist"):
        test_with_proposal_recall(cfg, 'nope.pth')
    cfg_file = osp.join(cfg.work_dir, 'recall_cfg.py')
    cfg.dump(cfg_file)
    with pytest.raises(SystemExit, match=r"^python -m "
                       r"pomp_mm\.det\.proposal_recall: error: proposal "
                       r"recall: checkpoint 'nope\.pth' does not exist"):
        main([cfg_file, 'nope.pth'])
    with pytest.raises(SystemExit, match=r"^python -m "
                       r"pomp_mm\.det\.proposal_recall: error: config "
                       r"'nope\.py' does not exist$"):
        main(['nope.py', trained['ckpt']])
    main([cfg_file, trained['ckpt'], '--ks', '50'])
    assert (f'proposal recall@50 (IoU 0.5): {100 * recall[50]:.1f}%'
            in capsys.readouterr().out)
