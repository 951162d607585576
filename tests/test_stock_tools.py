"""A prompt file given to mmpretrain's own tools/test.py (MMEngine's
load_from), directly or through ``mim test``, gives the POMP number, the same as pomp_mm's tools/test.py,
not the config's own prompt."""
import os
import os.path as osp
import re
import subprocess
import sys

import mmengine
import numpy as np
import pytest
import torch

from pomp_mm.core import FrozenCLIP, save_prompt
from pomp_mm.engine import test as engine_test

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'pomp', 'pretrain.py')
pytestmark = pytest.mark.slow


def _options(tmp, clip):
    data = str(tmp / 'data')
    gen = 'train_dataloader.dataset.generate_cfg'
    return [f'model.prompt_learner.clip.checkpoint={clip}',
            f'train_dataloader.dataset.data_root={data}',
            f'val_dataloader.dataset.data_root={data}',
            f'test_dataloader.dataset.data_root={data}',
            f'{gen}.num_classes=12', f'{gen}.train_per_class=2',
            f'{gen}.val_per_class=8']


def test_stock_mmpretrain_test_loads_a_prompt_file(tmp_path):
    import mmpretrain
    torch.manual_seed(0)
    clip = str(tmp_path / 'clip.pt')
    torch.save(FrozenCLIP('pomp-tiny-vit').model.state_dict(), clip)
    prompt = str(tmp_path / 'prompt.pth')
    save_prompt(prompt, 0.5 * torch.randn(
        4, 64, generator=torch.Generator().manual_seed(1)))
    options = _options(tmp_path, clip)
    ours = engine_test.main([CONFIG, prompt, '--work-dir',
                                   str(tmp_path / 'w1'), '--cfg-options',
                                   *options])
    tool = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools',
                    'test.py')
    nothing = str(tmp_path / 'empty.pth')  # stock test.py needs a file
    torch.save({'meta': {}, 'state_dict': {}}, nothing)
    scores = {}
    for name, ckpt in (('prompt', [prompt]), ('config', [nothing])):
        out = str(tmp_path / f'{name}.pkl')
        proc = subprocess.run(
            [sys.executable, tool, CONFIG, *ckpt, '--out', out,
             '--work-dir', str(tmp_path / name), '--cfg-options', *options],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        log = proc.stdout + proc.stderr
        scores[name] = torch.stack([torch.as_tensor(r['pred_score'])
                                    for r in mmengine.load(out)])
        if name == 'prompt':
            stock = float(re.findall(r'accuracy/top1: ([\d.]+)', log)[-1])
            assert "loaded the checkpoint's prompt ctx (4, 64) into " \
                'prompt_learner' in log
            # the run names the CLIP file it loaded
            assert f'FrozenCLIP pomp-tiny-vit: weights loaded from {clip} ' \
                '(open_clip)' in log
    assert stock == pytest.approx(ours['accuracy/top1'], abs=1e-4)
    # the test can fail: the config's own prompt predicts otherwise
    assert (scores['prompt'] - scores['config']).abs().max() > 1e-3
    # `mim test mmpretrain` (openmim) runs the same stock tool: same number
    out = str(tmp_path / 'mim.pkl')
    proc = subprocess.run(
        [sys.executable, '-m', 'mim', 'test', 'mmpretrain', CONFIG,
         '--checkpoint', prompt, '--out', out, '--work-dir',
         str(tmp_path / 'mim'), '--cfg-options', *options],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert f'{tool} {CONFIG} {prompt}' in log  # mim's "Testing command is"
    assert float(re.findall(r'accuracy/top1: ([\d.]+)', log)[-1]) == \
        pytest.approx(ours['accuracy/top1'], abs=1e-4)
    torch.testing.assert_close(
        torch.stack([torch.as_tensor(r['pred_score'])
                     for r in mmengine.load(out)]), scores['prompt'])


# -- MMSeg's stock tools/test.py, MMSegInferencer, mmpretrain's inferencer --
@pytest.fixture(scope='module')
def seg_setup(tmp_path_factory, scenes, clip_weights):
    """configs/miniworld/seg_maskclip.py on the scenes with the tiny CLIP,
    dumped twice (with mmengine's DumpResults beside HIoUMetric, for the
    stock tool), and a prompt file."""
    from mmengine.config import Config
    tmp = tmp_path_factory.mktemp('seg_stock')
    prompt = str(tmp / 'prompt.pth')
    save_prompt(prompt, 0.5 * torch.randn(
        4, 32, generator=torch.Generator().manual_seed(4)), epoch=1)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'miniworld',
                                   'seg_maskclip.py'))
    cfg.model.text_encoder.prompt_learner.clip = dict(
        type='FrozenCLIP', model_name='pomp-test-vit',
        checkpoint=clip_weights)
    cfg.model.test_cfg = dict(mode='slide', crop_size=(32, 32),
                              stride=(16, 16))
    cfg.test_dataloader.dataset.data_root = scenes
    cfg.test_dataloader.batch_size = 2
    plain = str(tmp / 'seg.py')
    cfg.dump(plain)
    cfg.test_evaluator = [dict(type='HIoUMetric'),
                          dict(type='DumpResults',
                               out_file_path=str(tmp / 'stock.pkl'))]
    dumping = str(tmp / 'seg_dump.py')
    cfg.dump(dumping)
    return dict(tmp=tmp, cfg=plain, dump_cfg=dumping, prompt=prompt,
                scenes=scenes)


def _logits(pkl):
    return torch.stack([torch.as_tensor(r['seg_logits']['data']).float()
                        for r in mmengine.load(pkl)])


def test_stock_mmseg_test_loads_a_prompt_file(seg_setup, mmseg_scope):
    import mmseg
    s = seg_setup
    ours_pkl = str(s['tmp'] / 'ours.pkl')
    ours = engine_test.main([s['cfg'], s['prompt'], '--out', ours_pkl,
                             '--work-dir', str(s['tmp'] / 'w_ours')])
    tool = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'test.py')
    proc = subprocess.run(
        [sys.executable, tool, s['dump_cfg'], s['prompt'], '--work-dir',
         str(s['tmp'] / 'w_stock')],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "loaded the checkpoint's prompt ctx (4, 32) into " \
        f'text_encoder.prompt_learner (prompt file {s["prompt"]})' in log
    for key in ('mIoU', 'mIoU-seen', 'mIoU-unseen', 'hIoU'):
        stock = float(re.findall(rf'{re.escape(key)}: ([\d.]+)', log)[-1])
        assert stock == pytest.approx(ours[key], abs=1e-2), key
    stock_logits = _logits(str(s['tmp'] / 'stock.pkl'))
    ours_logits = _logits(ours_pkl)
    tol = 1e-5 * float(ours_logits.abs().max())  # fp32 round-off of CLIP
    assert (stock_logits - ours_logits).abs().max() <= tol
    # the test can fail: the config's own prompt ("a photo of a") differs
    own_pkl = str(s['tmp'] / 'own.pkl')
    engine_test.main([s['cfg'], '--out', own_pkl, '--work-dir',
                      str(s['tmp'] / 'w_own')])
    assert (_logits(own_pkl) - ours_logits).abs().max() > 100 * tol


def test_mmseg_inferencer_weights_is_the_prompt(seg_setup, mmseg_scope):
    from mmengine.config import Config
    from mmseg.apis import MMSegInferencer

    from pomp_mm.core import load_prompt
    s = seg_setup
    cfg = Config.fromfile(s['cfg'])  # an inferencer runs no VocabularyHook
    cfg.model.test_vocabulary = mmengine.load(
        osp.join(s['scenes'], 'classes.json'))['classes']
    folder = osp.join(s['scenes'], 'images', 'test')
    image = osp.join(folder, sorted(os.listdir(folder))[0])
    got = MMSegInferencer(model=cfg, weights=s['prompt'], device='cpu')(
        image, return_datasamples=True).seg_logits.data
    reference = MMSegInferencer(model=cfg, weights=None, device='cpu')
    own = reference(image, return_datasamples=True).seg_logits.data
    load_prompt(reference.model, s['prompt'])
    want = reference(image, return_datasamples=True).seg_logits.data
    tol = 1e-6 * float(want.abs().max())
    assert (got - want).abs().max() <= tol
    assert (own - want).abs().max() > 1000 * tol  # the prompt mattered


def test_mmpretrain_inferencer_pretrained_is_the_prompt(seg_setup,
                                                        clip_weights):
    from mmengine.config import Config
    from mmpretrain.apis import ImageClassificationInferencer

    from pomp_mm.core import load_prompt
    s = seg_setup
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'miniworld',
                                   'zeroshot.py'))
    cfg.model.prompt_learner.clip = dict(
        type='FrozenCLIP', model_name='pomp-test-vit',
        checkpoint=clip_weights)
    cfg.model.test_vocabulary = ['blue star', 'red heart', 'green circle']
    cfg.test_dataloader.dataset.pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=32, edge='short', backend='pillow',
             interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=32), dict(type='PackInputs')]
    folder = osp.join(s['scenes'], 'images', 'test')
    images = [osp.join(folder, f) for f in sorted(os.listdir(folder))]
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # whatever
        # scope an earlier test's module fixture left
        got = ImageClassificationInferencer(
            model=cfg, pretrained=s['prompt'], device='cpu')(images)
        reference = ImageClassificationInferencer(model=cfg, pretrained=False,
                                                  device='cpu')
        own = reference(images)
        load_prompt(reference.model, s['prompt'])
        want = reference(images)
    for g, w, o in zip(got, want, own):
        assert g['pred_label'] == w['pred_label']
        np.testing.assert_allclose(g['pred_scores'], w['pred_scores'],
                                   rtol=0, atol=1e-6)
    assert max(abs(w['pred_scores'] - o['pred_scores']).max()
               for w, o in zip(want, own)) > 1e-3  # the prompt mattered


def test_out_is_the_openmmlab_predictions_pickle(capsys):
    args = engine_test.parse_args([CONFIG, '--out', 'preds.pkl'])
    assert (args.out, args.out_metrics) == ('preds.pkl', None)
    args = engine_test.parse_args([CONFIG, '--out', 'm.json'])  # deprecated
    assert (args.out, args.out_metrics) == (None, 'm.json')
    assert capsys.readouterr().err == (
        'test.py: --out FILE.json is deprecated; it writes the metrics as '
        '--out-metrics does (--out FILE.pkl dumps predictions)\n')
    with pytest.raises(SystemExit):
        engine_test.parse_args([CONFIG, '--out', 'preds.txt'])
    assert "--out 'preds.txt': expected a .pkl or .pickle file (the " \
        'predictions), or --out-metrics FILE.json for the metrics' in \
        capsys.readouterr().err
