"""A trained detector and a prompt: one command (tools/test.py CONFIG DET.pth
--prompt P), the same under MMDet's own tools/test.py with the prompt by
config; a frozen prompt is not part of the detector checkpoint, and a
prompt alone for an untrained detector is an error, not AP 0."""
import os.path as osp
import subprocess
import sys

import mmengine
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from pomp_mm.core.checkpoint import safe_torch_load, save_prompt
from pomp_mm.engine import test as engine_test
from test_det_configs import CONFIGS, coco_data, set_data, shrink  # noqa

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
KEY = 'roi_head.bbox_head.fc_cls.prompt_learner.ctx'
OPTION = 'model.roi_head.bbox_head.cls_predictor_cfg.prompt_learner.' \
    'prompt_checkpoint'
pytestmark = pytest.mark.slow


def _prompt(path, seed):
    save_prompt(path, 0.5 * torch.randn(
        4, 32, generator=torch.Generator().manual_seed(seed)), epoch=1)
    return str(path)


@pytest.fixture(scope='module')
def trained(tmp_path_factory, coco_data, clip_weights):
    """A detector trained 2 iterations with a frozen prompt P1 (once per
    module), its config (no prompt configured) and two prompt files."""
    tmp = tmp_path_factory.mktemp('det_prompt')
    root, train, val = coco_data
    p1, p2 = _prompt(tmp / 'p1.pth', 1), _prompt(tmp / 'p2.pth', 2)
    cfg = Config.fromfile(osp.join(CONFIGS,
                                   'ov-coco_pomp_faster-rcnn_r50_fpn_1x.py'))
    shrink(cfg, clip_weights, tmp / 'train')
    set_data(cfg.train_dataloader, root, train)
    set_data(cfg.test_dataloader, root, val)
    cfg.test_evaluator.ann_file = val
    cfg.train_dataloader.batch_size = 2
    cfg.default_hooks.checkpoint.interval = 1
    cfg.randomness = dict(seed=0)
    learner = cfg.model.roi_head.bbox_head.cls_predictor_cfg.prompt_learner
    learner.n_ctx = None
    test_cfg = str(tmp / 'det.py')
    cfg.dump(test_cfg)  # the test config: no prompt configured
    learner.prompt_checkpoint = p1
    Runner.from_cfg(cfg).train()
    return dict(tmp=tmp, cfg=test_cfg, det=str(tmp / 'train' / 'epoch_1.pth'),
                p1=p1, p2=p2)


def _scores(pkl):
    return torch.cat([torch.as_tensor(r['pred_instances']['scores'])
                      for r in mmengine.load(pkl)])


def _ours(t, name, *argv):
    out = str(t['tmp'] / f'{name}.pkl')
    metrics = engine_test.main([t['cfg'], *argv, '--out', out, '--work-dir',
                                str(t['tmp'] / name)])
    return metrics, _scores(out)


def test_frozen_prompt_is_not_in_the_detector_checkpoint(trained):
    state = safe_torch_load(trained['det'])['state_dict']
    assert KEY not in state
    assert any(k.startswith('roi_head.bbox_head.fc_cls.linear') for k in state)
    assert any(k.startswith('rpn_head.') for k in state)


def test_detector_plus_prompt_in_one_command_and_under_stock_mmdet(trained):
    t = trained
    ours, scores = _ours(t, 'ours', t['det'], '--prompt', t['p2'])
    # the same prompt by config gives the same predictions
    _, by_config = _ours(t, 'config', t['det'], '--cfg-options',
                         f'{OPTION}={t["p2"]}')
    # scores of a 2-iteration detector are tiny: compare them relatively
    assert torch.allclose(scores, by_config, rtol=1e-5, atol=0)
    # the test can fail: another prompt predicts otherwise
    _, other = _ours(t, 'other', t['det'], '--prompt', t['p1'])
    assert scores.shape != other.shape or \
        (scores - other).abs().max() > 1e-2 * scores.abs().max()
    import mmdet
    tool = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'test.py')
    out = str(t['tmp'] / 'stock.pkl')
    proc = subprocess.run(
        [sys.executable, tool, t['cfg'], t['det'], '--out', out,
         '--work-dir', str(t['tmp'] / 'stock'), '--cfg-options',
         f'{OPTION}={t["p2"]}'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert torch.allclose(_scores(out), scores, rtol=1e-4, atol=0)
    log = proc.stdout + proc.stderr
    stock = float(log.split('coco/bbox_mAP: ')[-1].split()[0])
    assert stock == pytest.approx(ours['coco/bbox_mAP'], abs=1e-3)
    assert f'prompt ctx (4, 32) loaded from {t["p2"]}' in log


def test_configured_prompt_wins_over_a_ctx_an_old_checkpoint_stored(trained):
    t = trained
    ckpt = safe_torch_load(t['det'])
    ckpt['state_dict'][KEY] = torch.zeros(4, 32)  # as older pomp_mm saved
    old = str(t['tmp'] / 'old_det.pth')
    torch.save(ckpt, old)
    _, want = _ours(t, 'new_ckpt', t['det'], '--prompt', t['p2'])
    _, got = _ours(t, 'old_ckpt', old, '--prompt', t['p2'])
    assert torch.allclose(got, want, rtol=1e-5, atol=0)
    log = open(next(iter(__import__('glob').glob(
        str(t['tmp'] / 'old_ckpt' / '*' / '*.log'))))).read()
    assert f"ignoring the checkpoint's {KEY!r} (an older checkpoint stored " \
        f'it); the configured frozen prompt ({t["p2"]}) is used' in log


def test_prompt_alone_for_an_untrained_detector_is_an_error(trained):
    t = trained
    with pytest.raises(SystemExit) as e:
        engine_test.main([t['cfg'], t['p2'], '--work-dir',
                          str(t['tmp'] / 'alone')])
    assert str(e.value.code) == (
        f"test.py: error: the prompt file {t['p2']!r} alone for the detector "
        'PompTwoStageDetector, whose own weights would stay untrained (AP 0)'
        '; expected a trained detector checkpoint: tools/test.py CONFIG '
        'DET.pth --prompt PROMPT.pth')
    import mmdet
    tool = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'test.py')
    proc = subprocess.run(
        [sys.executable, tool, t['cfg'], t['p2'], '--work-dir',
         str(t['tmp'] / 'stock_alone')],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert (f'{t["p2"]} is a prompt-only file, given as the checkpoint of '
            'the detector PompTwoStageDetector, whose own weights would stay '
            'untrained (AP 0)') in proc.stderr
    assert 'coco/bbox_mAP' not in proc.stdout + proc.stderr


def test_prompt_flag_takes_a_prompt_file_only(trained):
    t = trained
    for argv, want in (
            ([t['p1'], '--prompt', t['p2']],
             f"test.py: error: {t['p1']!r} and --prompt {t['p2']!r} are both "
             'prompt files; expected one prompt, and a full checkpoint (e.g. '
             'a trained detector) as CHECKPOINT'),
            (['--prompt', t['det']],
             f"test.py: error: --prompt {t['det']!r} is not a prompt file (it "
             'holds more than a prompt ctx); expected a prompt file such as '
             'work_dirs/x/prompt_latest.pth (a full checkpoint goes in the '
             'CHECKPOINT position)')):
        with pytest.raises(SystemExit) as e:
            engine_test.main([t['cfg'], *argv, '--work-dir',
                              str(t['tmp'] / 'bad')])
        assert str(e.value.code) == want


def test_mmdet_det_inferencer_with_detector_weights_and_configured_prompt(
        trained):
    """mmdet's own DetInferencer(config with the prompt, weights=DET.pth),
    given the test set's classes as texts='a . b .', predicts what
    tools/test.py CONFIG DET.pth --prompt P does; without texts it uses the
    checkpoint's (training) classes, and says so."""
    from mmdet.apis import DetInferencer
    t = trained
    cfg = Config.fromfile(t['cfg'])
    cfg.model.roi_head.bbox_head.cls_predictor_cfg.prompt_learner \
        .prompt_checkpoint = t['p2']
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    with_prompt = str(t['tmp'] / 'det_with_p2.py')
    cfg.dump(with_prompt)
    out = str(t['tmp'] / 'inf.pkl')
    engine_test.main([with_prompt, t['det'], '--out', out, '--work-dir',
                      str(t['tmp'] / 'inf_ref')])
    want = mmengine.load(out)
    files = [r['img_path'] for r in want]
    test_classes = list(cfg.test_dataloader.dataset.metainfo.classes)
    train_classes = list(cfg.train_dataloader.dataset.metainfo.classes)
    assert len(test_classes) == 65 and len(train_classes) == 48
    inferencer = DetInferencer(model=with_prompt, weights=t['det'],
                               device='cpu', show_progress=False)
    model = inferencer.model
    assert model.vocabularies.get('test') == train_classes  # dataset_meta
    got = inferencer(files, texts=' . '.join(test_classes) + ' .',
                     return_datasamples=True)['predictions']
    assert model.vocabulary == test_classes
    for sample, ref in zip(got, want):
        pred, ref = sample.pred_instances, ref['pred_instances']
        assert len(pred.scores) == len(ref['scores']) > 0
        torch.testing.assert_close(pred.scores, ref['scores'], rtol=1e-4,
                                   atol=0)
        assert pred.labels.tolist() == ref['labels'].tolist()
    # no texts: the checkpoint's 48 training classes, not mmdet's COCO 80
    plain = inferencer(files[:1], return_datasamples=True)['predictions'][0]
    assert model.vocabulary == train_classes
    assert int(plain.pred_instances.labels.max()) < 48
    # the test can fail: the other prompt predicts otherwise
    cfg.model.roi_head.bbox_head.cls_predictor_cfg.prompt_learner \
        .prompt_checkpoint = t['p1']
    other = str(t['tmp'] / 'det_with_p1.py')
    cfg.dump(other)
    p1 = DetInferencer(model=other, weights=t['det'], device='cpu',
                       show_progress=False)(
        files[:1], texts=' . '.join(test_classes), return_datasamples=True)
    a = p1['predictions'][0].pred_instances.scores
    b = got[0].pred_instances.scores
    assert a.shape != b.shape or (a - b).abs().max() > 1e-2 * b.abs().max()


def test_mmdet_coco_fallback_is_not_a_vocabulary(trained):
    """A checkpoint without dataset_meta: mmdet's init_detector fills in
    COCO's 80 names; the detector does not take them as its vocabulary."""
    from mmdet.apis import init_detector
    from mmdet.evaluation import get_classes
    t = trained
    ckpt = safe_torch_load(t['det'])
    ckpt['meta'].pop('dataset_meta', None)
    bare = str(t['tmp'] / 'det_no_meta.pth')
    torch.save(ckpt, bare)
    cfg = Config.fromfile(t['cfg'])
    cfg.model.roi_head.bbox_head.cls_predictor_cfg.prompt_learner \
        .prompt_checkpoint = t['p2']
    model = init_detector(cfg, bare, device='cpu')
    assert list(model.dataset_meta['classes']) == list(get_classes('coco'))
    assert model.vocabularies.get('test') is None  # not the COCO guess
