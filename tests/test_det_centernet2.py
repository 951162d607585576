"""CenterNet2's proposals on the cascade (ov-lvis_pomp_centernet2_r50_fpn_4x):
a class-agnostic CenterNet head as the RPN, P3-P7, and CenterNet2's
probabilistic test score, trained and tested on generated LVIS data with
masks (the set-up of test_det_cascade, shrunk)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import pomp_mm.det  # noqa: F401
from test_det_cascade import (STAGES, LossLog, lvis_with_masks,
                              shrink_cascade, use_lvis_data)
from test_det_configs import CONFIGS

CONFIG = 'ov-lvis_pomp_centernet2_r50_fpn_4x.py'


def test_config_builds_centernet_proposals_on_p3_p7():
    cfg = Config.fromfile(osp.join(CONFIGS, CONFIG))
    m = cfg.model
    assert m.rpn_head.type == 'CenterNetUpdateHead'
    assert m.rpn_head.num_classes == 1
    assert m.rpn_head.strides == [8, 16, 32, 64, 128]
    assert 'anchor_generator' not in m.rpn_head  # _delete_ took RPNHead's
    assert m.backbone.out_indices == (1, 2, 3)
    assert m.neck.in_channels == [512, 1024, 2048]
    assert m.roi_head.type == 'PompCascadeRoIHead'
    assert m.roi_head.mult_proposal_score is True
    assert m.roi_head.bbox_roi_extractor.featmap_strides == [8, 16, 32]
    assert m.test_cfg.rpn.max_per_img == 256
    assert m.train_cfg.rpn_proposal.nms.iou_threshold == 0.9


@pytest.fixture(scope='module')
def trained(tmp_path_factory, clip_weights):
    """2 iterations (batch 2) on 4 generated LVIS images with masks."""
    tmp = tmp_path_factory.mktemp('centernet2')
    root, norare, prompt = lvis_with_masks(tmp)
    cfg = Config.fromfile(osp.join(CONFIGS, CONFIG))
    shrink_cascade(cfg, clip_weights, prompt, tmp / 'work')
    m = cfg.model
    # C3-C5 of the shrunk ResNet-18 (8 base channels) into P3-P7
    m.backbone.out_indices = (1, 2, 3)
    m.neck.in_channels = [16, 32, 64]
    m.rpn_head.update(stacked_convs=1,
                      norm_cfg=dict(type='GN', num_groups=4,
                                    requires_grad=True))
    use_lvis_data(cfg, root, norare)
    runner = Runner.from_cfg(cfg)
    log = LossLog()
    runner.register_hook(log)
    runner.train()
    return dict(runner=runner, cfg=cfg, log=log)


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
