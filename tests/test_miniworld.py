"""The mini-world: vocabulary, rendering vs scene description, splits."""
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import pomp_mm.miniworld as mw
from pomp_mm.miniworld.world import COLOURS, _secondary
from tool_loader import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_vocabulary_is_20k_unique_phrases():
    names = [mw.class_name(c) for c in range(mw.NUM_CLASSES)]
    assert mw.NUM_CLASSES == 20736 and len(set(names)) == mw.NUM_CLASSES
    assert mw.class_name(mw.class_id('red', 'striped', 'star', 'blue')) == \
        'red striped star with a blue outline'
    for c in (0, 1, 4321, mw.NUM_CLASSES - 1):
        assert mw.class_id(*mw.class_attributes(c)) == c
    with pytest.raises(ValueError, match='outside'):
        mw.class_attributes(mw.NUM_CLASSES)


def _polygon_mask(obj, size):
    m = Image.new('L', (size, size), 0)
    poly = [tuple(p) for p in mw.object_polygon(obj)]
    ImageDraw.Draw(m).polygon(poly, fill=1)
    ImageDraw.Draw(m).line(poly + [poly[0]], fill=1, width=3)
    return np.asarray(m, bool)


@pytest.mark.parametrize('domain', ['clean', 'shifted'])
def test_masks_and_boxes_match_the_scene_description(domain):
    rng = np.random.default_rng(3)
    for _ in range(10):
        classes = rng.choice(mw.NUM_CLASSES, 3, replace=False).tolist()
        scene = mw.sample_scene(rng, classes, domain, 96, single=False)
        img, inst = mw.render_scene(scene)
        assert img.shape == (96, 96, 3) and inst.shape == (96, 96)
        covered = np.zeros((96, 96), bool)
        for i in reversed(range(len(scene.objects))):  # front to back
            obj = scene.objects[i]
            full = _polygon_mask(obj, 96)
            visible = full & ~covered
            assert np.array_equal(inst == i + 1, visible)  # occlusion order
            covered |= full
            ys, xs = np.nonzero(full)
            x1, y1, x2, y2 = mw.object_box(obj, 96)
            assert xs.min() >= np.floor(x1) - 2 and xs.max() <= x2 + 2
            assert ys.min() >= np.floor(y1) - 2 and ys.max() <= y2 + 2
        assert np.array_equal(inst == 0, ~covered)
        again, inst2 = mw.render_scene(scene)
        assert np.array_equal(img, again) and np.array_equal(inst, inst2)


def test_object_colours_are_the_class_colours():
    cid = mw.class_id('blue', 'solid', 'square', 'yellow')
    scene = mw.Scene([mw.SceneObject(cid, 32, 32, 24, 0)], 'clean', 0, 64)
    img, inst = mw.render_scene(scene)
    assert tuple(img[32, 32]) == COLOURS['blue']  # solid fill at the centre
    edge = img[inst == 1]
    assert (edge == COLOURS['yellow']).all(1).any()  # the outline
    cid = mw.class_id('red', 'checkered', 'circle', 'black')
    scene.objects[0].class_id = cid
    img, inst = mw.render_scene(scene)
    colours = {tuple(c) for c in img[inst == 1]}
    assert COLOURS['red'] in colours
    assert tuple(_secondary(COLOURS['red']).astype(np.uint8)) in colours


def test_source_and_target_classes_are_disjoint():
    source, target = mw.class_pools(0)
    assert not set(source) & set(target)
    assert len(source) + len(target) == mw.NUM_CLASSES
    for name in mw.TARGETS:
        seen, unseen = mw.target_classes(name)
        assert len(seen) == len(unseen) == mw.TARGETS[name].num_classes // 2
        assert not set(seen) & set(unseen)
        assert set(seen + unseen) <= set(target)
    stars = sum(mw.target_classes('stars_hearts'), [])
    assert {mw.class_attributes(c)[2] for c in stars} <= {'star', 'heart'}
    assert mw.target_classes('mixed200_dark') == \
        mw.target_classes('mixed200')
    with pytest.raises(ValueError, match='unknown mini-world target'):
        mw.target_classes('nope')


def test_dataset_labels_names_and_determinism():
    from mmpretrain.registry import DATASETS
    cfg = dict(type='MiniWorldClassification', split='stars_hearts',
               _scope_='mmpretrain',
               subset='unseen', images_per_class=2, sample_seed=5)
    ds = DATASETS.build(cfg)
    _, unseen = mw.target_classes('stars_hearts')
    assert len(ds) == 100
    assert ds.metainfo['classes'] == tuple(mw.class_name(c) for c in unseen)
    item = ds[3]
    assert item['gt_label'] == 1 and item['img'].shape == (64, 64, 3)
    assert np.array_equal(DATASETS.build(cfg)[3]['img'], item['img'])
    other = DATASETS.build(dict(cfg, sample_seed=6))[3]['img']
    assert not np.array_equal(other, item['img'])
    dark = DATASETS.build(dict(cfg, split='mixed200_dark', subset='all'))
    assert dark.domain == 'shifted'
    with pytest.raises(ValueError, match='split='):
        DATASETS.build(dict(cfg, split='x'))


def test_tiny_clip_trainer_is_deterministic_and_loadable(tmp_path):
    tool = load_tool('train_tiny_clip')
    outs = []
    for i in range(2):
        out = str(tmp_path / f'clip{i}.pt')
        tool.main(['--model', 'pomp-test-vit', '--steps', '3',
                   '--batch-size', '8', '--workers', '0', '--out', out])
        outs.append(out)
    a, b = (torch.load(o, weights_only=True)['state_dict'] for o in outs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    from pomp_mm.core import FrozenCLIP
    clip = FrozenCLIP('pomp-test-vit', checkpoint=outs[0])
    assert clip.weight_format == 'open_clip'
    fresh = FrozenCLIP('pomp-test-vit')
    assert not torch.equal(clip.model.text_projection,
                           fresh.model.text_projection)  # it trained


@pytest.mark.slow
def test_transfer_table_end_to_end(tmp_path):
    """tools/miniworld.py: CLIP -> POMP -> CoOp -> zero-shot table, plus the
    segmentation and detection rows."""
    import json
    tool = load_tool('miniworld')
    work = tmp_path / 'work'
    argv = ['--work-dir', str(work), '--clip', str(tmp_path / 'clip.pt'),
            '--clip-model', 'pomp-tiny-vit', '--clip-steps', '2',
            '--clip-batch', '8', '--source-classes', '40', '--quick',
            '--targets', 'stars_hearts', '--test-images', '1',
            '--seg-target', 'stars_hearts', '--seg-images', '2']
    results = tool.main(argv)
    seg = results.pop(tool.SEG_KEY)
    det = results.pop(tool.DET_KEY)
    assert set(det) == set(tool.METHODS)
    assert all(0 <= ap <= 100 for row in det.values() for ap in row)
    assert all(len(row) == 2 for row in det.values())
    assert set(seg) == set(tool.METHODS)
    for seen, unseen, h in seg.values():
        assert 0 <= seen <= 100 and 0 <= unseen <= 100
        assert h == pytest.approx(tool.harmonic(seen, unseen), abs=0.01)
    rows = results['stars_hearts']
    assert set(rows) == set(tool.METHODS)
    for seen, unseen, h in rows.values():
        assert 0 <= seen <= 100 and 0 <= unseen <= 100
        assert h == pytest.approx(tool.harmonic(seen, unseen))
    assert json.loads((work / 'results.json').read_text()) == dict(
        results, segmentation=seg, detection=det)
    assert (work / 'results.png').stat().st_size > 1000
    assert 'POMP (source)' in (work / 'results.md').read_text()
    # the same seed reproduces the table to the printed digits
    again = tool.main(argv + ['--work-dir', str(tmp_path / 'work2')])
    assert again.pop(tool.SEG_KEY) == seg
    assert again.pop(tool.DET_KEY) == det
    assert tool.table(again) == tool.table(results)
