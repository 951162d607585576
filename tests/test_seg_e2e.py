"""Segmentation end to end on generated data in the real on-disk formats.

VOC (JPEGImages/ + palette PNGs in SegmentationClass/ + ImageSets lists),
COCO-Stuff-164k (images/ + annotations/*_labelTrainIds.png) and ADE20K
(images/ + annotations/, 0 = other) are written in tmp_path; the real configs
under configs/seg/ are inherited with a tiny CLIP and run through
tools/train.py (a few stage-1 iterations, then validation with hIoU) and
tools/test.py (a prompt file, cross-dataset vocabulary).
"""
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from pomp_mm.core import load_prompt_ctx
from pomp_mm.core.checkpoint import safe_torch_load
from pomp_mm.seg.splits import (COCO_STUFF_CLASSES, COCO_STUFF_SEEN,
                                VOC_CLASSES, VOC_SEEN)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG_DIR = osp.join(ROOT, 'configs', 'seg')
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('mmseg_scope')]


def _scene(rng, labels, h=48, w=64):
    """An image of flat-coloured blocks and its label map."""
    label = np.full((h, w), labels[0], np.uint8)
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = rng.integers(0, 255, 3)
    for k, lab in enumerate(labels[1:]):
        y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
        label[y:y + h // 2, x:x + w // 2] = lab
        img[y:y + h // 2, x:x + w // 2] = rng.integers(0, 255, 3)
    return img, label


def make_voc(root, n_train=4, n_val=2, seed=0):
    """VOC2012 layout; label 0 = background, 255 = boundary."""
    from mmseg.datasets import PascalVOCDataset
    palette = np.array(PascalVOCDataset.METAINFO['palette'], np.uint8)
    flat = np.zeros((256, 3), np.uint8)
    flat[:len(palette)] = palette
    rng = np.random.default_rng(seed)
    voc = osp.join(root, 'VOCdevkit', 'VOC2012')
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(osp.join(voc, sub), exist_ok=True)
    sheep = 1 + VOC_CLASSES.index('sheep')  # unseen
    for split, n in (('train', n_train), ('val', n_val)):
        names = []
        for i in range(n):
            name = f'2007_{split}{i:03d}'
            seen = 1 + VOC_CLASSES.index(VOC_SEEN[i % len(VOC_SEEN)])
            img, label = _scene(rng, [0, seen, sheep])
            label[0, :] = 255
            Image.fromarray(img).save(osp.join(voc, 'JPEGImages',
                                               name + '.jpg'))
            png = Image.fromarray(label, mode='P')
            png.putpalette(flat.flatten().tolist())
            png.save(osp.join(voc, 'SegmentationClass', name + '.png'))
            names.append(name)
        with open(osp.join(voc, 'ImageSets', 'Segmentation', split + '.txt'),
                  'w') as f:
            f.write('\n'.join(names) + '\n')
    return voc


def make_coco_stuff(root, n=3, seed=1):
    """COCO-Stuff-164k layout with *_labelTrainIds.png (0..170, 255)."""
    rng = np.random.default_rng(seed)
    cow = COCO_STUFF_CLASSES.index('cow')
    for split in ('train2017', 'val2017'):
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', split), exist_ok=True)
        for i in range(n):
            name = f'{i:012d}'
            img, label = _scene(rng, [COCO_STUFF_CLASSES.index('sky-other'),
                                      COCO_STUFF_CLASSES.index('person'),
                                      cow])
            Image.fromarray(img).save(osp.join(root, 'images', split,
                                               name + '.jpg'))
            Image.fromarray(label).save(osp.join(
                root, 'annotations', split, name + '_labelTrainIds.png'))
    return root


def make_ade(root, n=2, seed=2):
    """ADEChallengeData2016 layout; annotation 0 = other, 1..150 classes."""
    rng = np.random.default_rng(seed)
    for sub in ('images/validation', 'annotations/validation'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    for i in range(n):
        name = f'ADE_val_{i:08d}'
        img, label = _scene(rng, [0, 3, 13])  # other, sky, person
        Image.fromarray(img).save(osp.join(root, 'images', 'validation',
                                           name + '.jpg'))
        Image.fromarray(label).save(osp.join(root, 'annotations',
                                             'validation', name + '.png'))
    return root


def tiny_config(tmp_path, base, data_root, clip_weights, iters=2):
    """A config inheriting a real one, shrunk to the tiny CLIP and data."""
    reduce_zero_label = True if 'ade20k' in base else None
    test_only = Config.fromfile(osp.join(CFG_DIR, base)).train_cfg is None
    path = tmp_path / f'tiny_{osp.basename(base)}'
    path.write_text(f'''
_base_ = [{osp.join(CFG_DIR, base)!r}]
data_root = {data_root!r}
crop = (32, 32)
model = dict(
    data_preprocessor=dict(size=crop),
    text_encoder=dict(prompt_learner=dict(
        clip=dict(model_name='pomp-test-vit', checkpoint={clip_weights!r}),
        prompt_checkpoint=None, n_ctx=4)),
    region_cfg=dict(min_area=4),
    test_cfg=dict(crop_size=crop, stride=(16, 16)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(64, 32), ratio_range=(1.0, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 48), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label={reduce_zero_label}),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root,
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval={iters}))
''')
    if not test_only:
        with path.open('a') as f:
            f.write(f'''
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root,
                                     pipeline=train_pipeline))
train_cfg = dict(max_iters={iters}, val_interval={iters})
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
''')
    return str(path)


def _run(tool, *args):
    cmd = [sys.executable, osp.join(ROOT, 'tools', tool), *args]
    # one thread: on a loaded 2-core box tiny ops otherwise wait on the
    # OpenMP pool (100x slower)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def voc_run(tmp_path_factory, clip_weights):
    tmp = tmp_path_factory.mktemp('voc')
    voc = make_voc(str(tmp / 'data'))
    cfg = tiny_config(tmp, 'pomp_maskclip_vit-b16_voc-15-5.py', voc,
                      clip_weights, iters=3)
    log = _run('train.py', cfg, '--work-dir', str(tmp / 'work'))
    return tmp, cfg, log


def test_voc_split_ignores_unseen_and_background(tmp_path, clip_weights):
    from mmseg.registry import DATASETS

    import pomp_mm.seg  # noqa: F401
    voc = make_voc(str(tmp_path / 'data'), n_train=2, n_val=1)
    cfg = Config.fromfile(tiny_config(
        tmp_path, 'pomp_maskclip_vit-b16_voc-15-5.py', voc, clip_weights))
    for loader, classes in ((cfg.train_dataloader, VOC_SEEN),
                            (cfg.test_dataloader, VOC_CLASSES)):
        ds_cfg = dict(loader.dataset)
        ds_cfg['pipeline'] = [dict(type='LoadAnnotations')]
        ds = DATASETS.build(ds_cfg)
        assert tuple(ds.metainfo['classes']) == tuple(classes)
        item = ds[0]
        raw = np.array(Image.open(item['seg_map_path']))
        got = item['gt_seg_map']
        for j, name in enumerate(('background', ) + VOC_CLASSES):
            where = raw == j
            if not where.any():
                continue
            want = classes.index(name) if name in classes else 255
            assert (got[where] == want).all(), name
        sheep = raw == 1 + VOC_CLASSES.index('sheep')
        assert sheep.any()
        assert (got[sheep] == 255).all() == (classes is VOC_SEEN)


def test_coco_stuff_split_ignores_unseen(tmp_path, clip_weights):
    from mmseg.registry import DATASETS

    import pomp_mm.seg  # noqa: F401
    root = make_coco_stuff(str(tmp_path / 'coco'), n=1)
    cfg = Config.fromfile(tiny_config(
        tmp_path, 'pomp_maskclip_vit-b16_coco-stuff164k-156-15.py', root,
        clip_weights))
    ds_cfg = dict(cfg.train_dataloader.dataset)
    ds_cfg['pipeline'] = [dict(type='LoadAnnotations')]
    item = DATASETS.build(ds_cfg)[0]
    assert item['seg_map_path'].endswith('_labelTrainIds.png')
    raw = np.array(Image.open(item['seg_map_path']))
    got = item['gt_seg_map']
    cow = raw == COCO_STUFF_CLASSES.index('cow')
    person = raw == COCO_STUFF_CLASSES.index('person')
    assert cow.any() and person.any()
    assert (got[cow] == 255).all()
    assert (got[person] == COCO_STUFF_SEEN.index('person')).all()


def test_voc_stage1_train_then_hiou(voc_run):
    tmp, _, log = voc_run
    work = tmp / 'work'
    assert (work / 'iter_3.pth').is_file()
    ctx = load_prompt_ctx(str(work / 'prompt_latest.pth'), width=32,
                          dtype=torch.float32)
    assert ctx.shape == (4, 32)
    assert 'loss_region' in log
    found = re.search(r'mIoU: ([\d.]+)\s+mIoU-seen: ([\d.]+)\s+'
                      r'mIoU-unseen: ([\d.]+)\s+hIoU: ([\d.]+)', log)
    assert found, log[-2000:]
    _, seen, unseen, hiou = map(float, found.groups())
    expect = 0.0 if min(seen, unseen) == 0 else 2 / (1 / seen + 1 / unseen)
    assert hiou == pytest.approx(expect, abs=0.02)


def test_test_tool_prompt_file_cross_dataset_ade(voc_run, clip_weights):
    """tools/test.py PROMPT on ADE20K-150: vocabulary from the test set."""
    tmp, _, _ = voc_run
    prompt = str(tmp / 'work' / 'prompt_latest.pth')
    ade = make_ade(str(tmp / 'ade'))
    cfg = tiny_config(tmp, 'pomp_maskclip_vit-b16_ade20k-150.py', ade,
                      clip_weights)
    # (no --out: tools/test.py cannot json-dump IoUMetric's numpy floats)
    log = _run('test.py', cfg, prompt, '--work-dir', str(tmp / 'ade_test'),
               '--cfg-options', 'default_hooks.visualization.draw=True',
               'default_hooks.visualization.interval=1')
    assert 'loaded prompt' in log
    assert 'skyscraper' in log  # the per-class table has ADE's names
    found = re.search(r'aAcc: ([\d.]+)\s+mIoU: ([\d.]+)', log)
    assert found, log[-2000:]
    assert 0.0 <= float(found.group(2)) <= 100.0
    # SegLocalVisualizer drew GT | prediction with class names
    drawn = list((tmp / 'ade_test').glob('*/vis_data/vis_image/*.png'))
    assert len(drawn) == 2
    assert Image.open(drawn[0]).size == (2 * 64, 48)


def tiny_zsseg_config(tmp_path, data_root, clip_weights, prompt, iters=2):
    """The COCO-Stuff stage-2 config with a tiny ResNet/MaskFormer/CLIP."""
    path = tiny_config(tmp_path, 'zsseg_pomp_r101c_coco-stuff164k-156-15.py',
                       data_root, clip_weights, iters)
    text = open(path).read()
    start = text.index('model = dict(')
    end = text.index('train_pipeline = [')
    layer = ("dict(embed_dims=32, num_heads=2, attn_drop=0.0, "
             "proj_drop=0.0, dropout_layer=None, batch_first=True)")
    model = f"""model = dict(
    data_preprocessor=dict(size=crop),
    backbone=dict(depth=18, base_channels=8, stem_channels=8,
                  norm_cfg=dict(type='BN', requires_grad=True),
                  init_cfg=None),
    decode_head=dict(
        text_encoder=dict(prompt_learner=dict(
            clip=dict(model_name='pomp-test-vit', checkpoint={clip_weights!r}),
            prompt_checkpoint={prompt!r})),
        in_channels=[8, 16, 32, 64], feat_channels=32, out_channels=32,
        num_queries=4,
        pixel_decoder=dict(norm_cfg=dict(type='GN', num_groups=8)),
        positional_encoding=dict(num_feats=16),
        transformer_decoder=dict(num_layers=1, layer_cfg=dict(
            self_attn_cfg={layer}, cross_attn_cfg={layer},
            ffn_cfg=dict(embed_dims=32, feedforward_channels=64)))))
"""
    with open(path, 'w') as f:
        f.write(text[:start] + model + text[end:])
    return path


def test_coco_stuff_stage2_with_stage1_prompt(voc_run, clip_weights):
    """ZSSeg stage 2 (frozen stage-1 prompt + no-object, CLIP ensemble)."""
    tmp, _, _ = voc_run
    prompt = str(tmp / 'work' / 'prompt_latest.pth')
    root = make_coco_stuff(str(tmp / 'coco'))
    cfg = tiny_zsseg_config(tmp, root, clip_weights, prompt)
    log = _run('train.py', cfg, '--work-dir', str(tmp / 'zsseg'))
    assert (tmp / 'zsseg' / 'iter_2.pth').is_file()
    assert 'loss_cls' in log and 'loss_mask' in log and 'loss_dice' in log
    found = re.search(r'mIoU-seen: ([\d.]+)\s+mIoU-unseen: ([\d.]+)', log)
    assert found, log[-2000:]
    # the frozen stage-1 prompt is not trained, and a prompt file is not
    # part of the model's checkpoint: the config's prompt_checkpoint (or
    # tools/test.py --prompt) supplies it at test time
    state = safe_torch_load(str(tmp / 'zsseg' / 'iter_2.pth'))['state_dict']
    assert not [k for k in state if k.endswith('prompt_learner.ctx')]
    assert any('prompt_learner' not in k for k in state)
