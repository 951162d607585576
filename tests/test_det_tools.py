"""tools/det_demo.py and tools/test.py with a detection config + prompt."""
import os.path as osp

import cv2
import pytest
import torch
from mmengine.config import Config

from pomp_mm.core.checkpoint import save_prompt
from pomp_mm.engine import det_demo
from pomp_mm.engine import dump_text_features as dump_cli
from pomp_mm.engine import test as engine_test
from test_det_configs import (CONFIGS, SIZE, coco_data, make_images,  # noqa
                              set_data, shrink)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = pytest.mark.slow




@pytest.fixture
def det_config(tmp_path, coco_data, clip_weights):
    root, _, val = coco_data
    cfg = Config.fromfile(osp.join(CONFIGS,
                                   'ov-coco_pomp_faster-rcnn_r50_fpn_1x.py'))
    shrink(cfg, clip_weights, tmp_path / 'work')
    set_data(cfg.test_dataloader, root, val)
    cfg.test_evaluator.ann_file = val
    path = str(tmp_path / 'det_cfg.py')
    cfg.dump(path)
    prompt = str(tmp_path / 'prompt.pth')
    torch.manual_seed(1)
    save_prompt(prompt, torch.randn(4, 32) * 0.02, epoch=1, meta={})
    return path, prompt


def _detector_weights(cfg_path, path):
    """A detector checkpoint of the config (MMEngine layout)."""
    from mmengine.registry import MODELS, init_default_scope
    import pomp_mm.det  # noqa: F401
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(cfg_path).model)
    torch.save({'state_dict': model.state_dict(), 'meta': {},
                'message_hub': {}}, path)
    return path


def test_demo_free_text(det_config, tmp_path, capsys):
    """det_demo is ``infer.py det`` for one image: the same inferencer."""
    from pomp_mm.apis import PompInferencer
    cfg, prompt = det_config
    image = osp.join(str(tmp_path), make_images(str(tmp_path), 1)[0][0])
    out = str(tmp_path / 'vis.png')
    weights = _detector_weights(cfg, str(tmp_path / 'det.pth'))
    demo = det_demo
    result = demo.main([image, cfg, '--weights', weights, '--prompt', prompt,
                        '--texts', 'red square . blue circle', '--out', out,
                        '--score-thr', '0'])
    drawn = cv2.imread(out)
    # 96 px upscaled (nearest, x4) so the labels are legible
    assert drawn is not None and drawn.shape == (4 * SIZE, 4 * SIZE, 3)
    same = PompInferencer('det', model=cfg, weights=weights, prompt=prompt,
                          score_thr=0.0)(
        image, texts=['red square', 'blue circle'])['predictions'][0]
    assert same['scores'] == pytest.approx(
        result.pred_instances.scores.tolist(), rel=1e-5, abs=1e-6)
    names = result.pred_instances.label_names
    assert names and set(names) <= {'red square', 'blue circle'}
    labels = result.pred_instances.labels.tolist()
    assert names == [['red square', 'blue circle'][i] for i in labels]
    printed = capsys.readouterr().out
    assert f'over 2 class(es) -> {out}' in printed
    assert printed.count('\n') == len(names) + 1
    for bad, msg in ((['--texts', ' . '], 'no class name'),
                     (['--texts', 'a', '--out', str(tmp_path / 'x.gif')],
                      'expected a .png or .jpg')):
        argv = [image, cfg, '--weights', weights, '--texts', 'a', '--out',
                out] + bad
        with pytest.raises(SystemExit):
            demo.main(argv)
        assert msg in capsys.readouterr().err
    with pytest.raises(SystemExit):  # no weights: refused, not random boxes
        demo.main([image, cfg, '--texts', 'a', '--out', out])
    assert '--weights' in capsys.readouterr().err


def test_tools_test_refuses_a_prompt_alone_for_a_detector(det_config,
                                                          tmp_path):
    # a prompt with a trained detector: tests/test_det_prompt.py
    cfg, prompt = det_config
    out = str(tmp_path / 'metrics.json')
    with pytest.raises(SystemExit) as e:
        engine_test.main([cfg, prompt, '--out-metrics', out])
    assert str(e.value.code).startswith(
        f'test.py: error: the prompt file {prompt!r} alone for the detector '
        'PompTwoStageDetector, whose own weights would stay untrained (AP 0)')
    assert not osp.exists(out)


def test_dump_text_features_npy_is_the_prompt_classifier(tmp_path,
                                                         clip_weights):
    """The .npy of tools/dump_text_features.py, used as fixed weights,
    gives the same classifier as the prompt learner it was dumped from."""
    from pomp_mm.det import PompZeroShotClassifier
    names = ['traffic light', 'zebra', 'hot dog']
    classes = tmp_path / 'names.txt'
    classes.write_text('\n'.join(names) + '\n')
    prompt = str(tmp_path / 'prompt.pth')
    torch.manual_seed(2)
    save_prompt(prompt, torch.randn(4, 32) * 0.02, epoch=1, meta={})
    npy = str(tmp_path / 'feats.npy')
    dump_cli.main([
        '--model', 'pomp-test-vit', '--clip-checkpoint', clip_weights,
        '--prompt', prompt, '--classes', str(classes), '--out', npy])
    fixed = PompZeroShotClassifier(8, 4, zs_weight_path=npy)
    learned = PompZeroShotClassifier(
        8, 4, vocabulary=names,
        prompt_learner=dict(
            type='PompPromptLearner', prompt_checkpoint=prompt,
            clip=dict(type='FrozenCLIP', model_name='pomp-test-vit',
                      checkpoint=clip_weights, text_only=True)))
    torch.testing.assert_close(fixed.class_weight(), learned.class_weight(),
                               rtol=1e-5, atol=1e-5)
    # and a different prompt gives a different classifier
    other = str(tmp_path / 'other.pth')
    save_prompt(other, torch.randn(4, 32), epoch=1, meta={})
    learned.prompt_learner.load_prompt(other)
    assert not torch.allclose(fixed.class_weight(), learned.class_weight(),
                              atol=1e-3)
