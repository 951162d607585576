"""Transfer configs end to end on tiny samples of the 15 datasets.

Every ``configs/cls/pomp/<dataset>.py`` runs through MMEngine's Runner on a
generated sample in that dataset's real layout with a tiny random CLIP; its
accuracy must equal an independent computation from the generated ground
truth. The CLIP template baselines, the linear probe and CoOp run too.
"""
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import Runner

import pomp_mm.cls  # noqa: F401
from pomp_mm.cls.model import dedup_names
from pomp_mm.cls.zeroshot import TEMPLATE_SETS
from pomp_mm.core import PompPromptLearner, save_prompt
from test_cls_data import ALL, curated_names, make_dataset
from pomp_mm.core.checkpoint import safe_torch_load

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MEAN = torch.tensor([122.770938, 116.7460125, 104.09373615]).view(3, 1, 1)
STD = torch.tensor([68.5005327, 66.6321579, 70.32316305]).view(3, 1, 1)


@pytest.fixture(scope='module')
def prompt_file(tmp_path_factory):
    torch.manual_seed(1)
    path = str(tmp_path_factory.mktemp('prompt') / 'prompt.pth')
    save_prompt(path, torch.randn(4, 32) * 0.02, epoch=5)
    return path


def _shrink(cfg: Config, clip_weights: str, work_dir: str) -> Config:
    """Tiny CLIP (32 px), small loaders, CPU-friendly."""
    model = cfg.model
    clip = model.prompt_learner.clip if 'prompt_learner' in model else (
        model.backbone.clip if 'backbone' in model else model.clip)
    clip.model_name, clip.checkpoint = 'pomp-test-vit', clip_weights
    if 'head' in model:
        model.head.in_channels = 32
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if loader is None:
            continue
        loader.update(batch_size=4, num_workers=0, persistent_workers=False)
        for t in loader.dataset.pipeline:
            if t.type in ('ResizeEdge', 'RandomResizedCrop'):
                t.scale = 32
            if t.type == 'CenterCrop':
                t.crop_size = 32
    cfg.work_dir = work_dir
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_level = 'WARNING'
    return cfg


def tiny_cfg(path, data_root, clip_weights, work_dir, prompt=None):
    cfg = Config.fromfile(osp.join(ROOT, path))
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(name) is not None:
            cfg[name].dataset.data_root = data_root
    if prompt is not None:
        cfg.model.prompt_learner.prompt_checkpoint = prompt
    return _shrink(cfg, clip_weights, work_dir)


def _images(paths):
    """The test images as the pipeline makes them (32 px: no resize)."""
    batch = []
    for p in paths:
        img = mmcv.imread(p, channel_order='rgb')
        batch.append(
            (torch.from_numpy(img).permute(2, 0, 1).float() - MEAN) / STD)
    return torch.stack(batch)


def _top1(image_feats, text_feats, labels):
    pred = (F.normalize(image_feats, dim=-1) @ F.normalize(
        text_feats, dim=-1).t()).argmax(-1)
    return 100.0 * (pred == torch.tensor(labels)).float().mean().item()


@pytest.mark.parametrize('key', ALL)
def test_pomp_config_runs_and_matches_reference(key, tmp_path, tiny_clip,
                                                clip_weights, prompt_file):
    names, test = make_dataset(key, str(tmp_path / 'data'))
    cfg = tiny_cfg(f'configs/cls/pomp/{key}.py', str(tmp_path / 'data'),
                   clip_weights, str(tmp_path / 'work'), prompt_file)
    cfg.test_evaluator = dict(type='Accuracy', topk=(1, ))
    metrics = Runner.from_cfg(cfg).test()
    # independent: generated labels and names, the prompt's ctx, 77 tokens
    names = curated_names() if names is None else names
    distinct, index = dedup_names(names)  # 1000 curated names: 2 repeat
    assert (index is None) == (len(names) < 1000)
    learner = PompPromptLearner(tiny_clip,
                                vocabulary=distinct,
                                prompt_checkpoint=prompt_file)
    with torch.no_grad():
        text = learner(truncate=len(names) > 100)
        text = text if index is None else text[index]
        image = tiny_clip.encode_image(_images([p for p, _ in test]))
    want = _top1(image, text, [y for _, y in test])
    assert metrics['accuracy/top1'] == pytest.approx(want, abs=1e-4)


@pytest.mark.parametrize('method,key', [('clip', 'dtd'),
                                        ('clip_ensemble', 'imagenet_a')])
def test_template_baselines_match_reference(method, key, tmp_path, tiny_clip,
                                            clip_weights):
    names, test = make_dataset(key, str(tmp_path / 'data'))
    cfg = tiny_cfg(f'configs/cls/{method}/{key}.py', str(tmp_path / 'data'),
                   clip_weights, str(tmp_path / 'work'))
    cfg.test_evaluator = dict(type='Accuracy', topk=(1, ))
    metrics = Runner.from_cfg(cfg).test()
    templates = ['{} texture.'] if method == 'clip' else \
        TEMPLATE_SETS['openai_imagenet']
    assert len(templates) in (1, 80)
    tok = tiny_clip.tokenizer
    with torch.no_grad():
        per_class = []
        for name in names:
            t = tiny_clip.encode_text(tok(
                [tp.format(name) for tp in templates]),
                                      normalize=True)
            per_class.append(F.normalize(t.mean(0), dim=-1))
        image = tiny_clip.encode_image(_images([p for p, _ in test]))
    want = _top1(image, torch.stack(per_class), [y for _, y in test])
    assert metrics['accuracy/top1'] == pytest.approx(want, abs=1e-4)


@pytest.mark.parametrize('method',
                         ['pomp', 'clip', 'clip_ensemble', 'linear_probe'])
def test_every_method_config_parses(method):
    keys = ALL if method != 'linear_probe' else [
        k for k in ALL if k not in ('imagenet_a', 'imagenet_r',
                                    'imagenet_sketch', 'imagenetv2')
    ]
    for key in keys:
        cfg = Config.fromfile(
            osp.join(ROOT, 'configs', 'cls', method, f'{key}.py'))
        ds = cfg.test_dataloader.dataset
        assert ds.data_root.startswith('data/') and ds.pipeline[-1].type \
            == 'PackInputs'
        if method == 'clip_ensemble':
            assert cfg.model.templates == 'openai_imagenet'
        if method == 'clip':
            assert '{}' in cfg.model.templates
        if method == 'linear_probe':
            assert cfg.model.head.num_classes == {
                'eurosat': 10,
                'dtd': 47,
                'imagenet': 1000
            }.get(key, cfg.model.head.num_classes)
            assert cfg.train_dataloader.dataset.num_shots == 16
        if method == 'pomp':
            assert cfg.model.prompt_learner.prompt_checkpoint.endswith(
                'nctx4_cscFalse_ctpend_seed42.pth.tar')


def test_linear_probe_trains_and_evaluates(tmp_path, clip_weights):
    make_dataset('eurosat', str(tmp_path / 'data'), train_per_class=4)
    cfg = tiny_cfg('configs/cls/linear_probe/eurosat.py',
                   str(tmp_path / 'data'), clip_weights,
                   str(tmp_path / 'work'))
    cfg.model.head.num_classes = 5
    cfg.train_dataloader.dataset.num_shots = 4
    cfg.train_cfg.max_epochs = 15
    cfg.param_scheduler[0].T_max = 15
    cfg.optim_wrapper.optimizer.lr = 0.05
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=15)
    cfg.test_evaluator = dict(type='Accuracy', topk=(1, ))
    runner = Runner.from_cfg(cfg)
    head = runner.model.head.fc
    before = runner.test()['accuracy/top1']
    runner.train()
    after = runner.test()['accuracy/top1']
    # the colours of the 5 classes are separable: the probe must get them
    assert after == 100.0 and before < 100.0
    trainable = {
        n
        for n, p in runner.model.named_parameters() if p.requires_grad
    }
    assert trainable == {'head.fc.weight', 'head.fc.bias'}
    ckpt = safe_torch_load(str(tmp_path / 'work' / 'epoch_15.pth'))
    assert set(ckpt['state_dict']) == {'head.fc.weight', 'head.fc.bias'}
    torch.testing.assert_close(ckpt['state_dict']['head.fc.weight'],
                               head.weight.detach())


def test_coop_trains_a_prompt_on_imagenet_shots(tmp_path, clip_weights):
    make_dataset('imagenet', str(tmp_path / 'data'), train_per_class=2)
    cfg = tiny_cfg('configs/cls/coop/coop_vit-b16_nctx16_16shots_ep50_in1k.py',
                   str(tmp_path / 'data'), clip_weights,
                   str(tmp_path / 'work'))
    cfg.model.prompt_learner.n_ctx = 4
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 2
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
    cfg.val_evaluator = cfg.test_evaluator = dict(type='Accuracy', topk=(1, ))
    runner = Runner.from_cfg(cfg)
    assert runner.model.loss_module.num_classes_per_step is None  # CoOp
    ctx0 = runner.model.prompt_learner.ctx.detach().clone()
    runner.train()
    prompt = tmp_path / 'work' / 'prompt_epoch_2.pth'
    assert prompt.is_file()
    ctx = torch.load(prompt, weights_only=True)['state_dict']['ctx']
    assert ctx.shape == (4, 32) and not torch.equal(ctx, ctx0)
    np.testing.assert_array_equal(
        runner.train_dataloader.dataset.metainfo['classes'], [
            'tench', 'goldfish', 'great white shark', 'tiger shark',
            'hammerhead shark'
        ])
