"""The mini-world: vocabulary, rendering vs scene description, splits."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import pomp_mm.benchmarks.miniworld as mw
from pomp_mm.benchmarks import report
from pomp_mm.benchmarks.miniworld import driver as mw_driver
from pomp_mm.benchmarks.miniworld import tiny_clip
from pomp_mm.benchmarks.miniworld.world import COLOURS, _secondary
from pomp_mm.core.utils import harmonic_mean

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
    tool = tiny_clip
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
    tool = mw_driver
    work = tmp_path / 'work'
    argv = ['--work-dir', str(work), '--clip', str(tmp_path / 'clip.pt'),
            '--clip-model', 'pomp-tiny-vit', '--clip-steps', '2',
            '--clip-batch', '8', '--source-classes', '40', '--quick',
            '--targets', 'stars_hearts', '--test-images', '1',
            '--seg-target', 'stars_hearts', '--seg-images', '2',
            '--det-models', 'faster', 'cascade', 'centernet2',
            'image-labels']
    results = tool.main(argv)
    seg = results.pop(tool.SEG_KEY)
    det = results.pop(tool.DET_KEY)
    cascade = results.pop(tool.CASCADE_KEY)
    centernet2 = results.pop(tool.CENTERNET2_KEY)
    labelled = results.pop(tool.IMAGE_LABEL_KEY)
    assert set(det) == set(cascade) == set(centernet2) == set(labelled) == \
        set(tool.METHODS)
    assert all(len(row) == 2 and all(0 <= ap <= 100 for ap in row)
               for row in labelled.values())
    # the image-labelled set of the quick run: 1 image per class, beside
    # the scenes, with the box frequencies of their train split
    labels = work / 'image_labels' / 'stars_hearts'
    assert len(json.loads((labels / 'image_labels.json').read_text())[
        'images']) == 100
    assert all(0 <= ap <= 100 for row in det.values() for ap in row)
    assert all(len(row) == 2 for row in det.values())
    # box and mask AP50, base and novel, from the real mask-trained cascade
    assert all(len(row) == 4 and all(0 <= ap <= 100 for ap in row)
               for rows in (cascade, centernet2) for row in rows.values())
    assert set(seg) == set(tool.METHODS)
    for seen, unseen, h in seg.values():
        assert 0 <= seen <= 100 and 0 <= unseen <= 100
        assert h == pytest.approx(harmonic_mean(seen, unseen), abs=0.01)
    rows = results['stars_hearts']
    assert set(rows) == set(tool.METHODS)
    for seen, unseen, h in rows.values():
        assert 0 <= seen <= 100 and 0 <= unseen <= 100
        assert h == pytest.approx(harmonic_mean(seen, unseen))
    assert json.loads((work / 'results.json').read_text()) == dict(
        results, segmentation=seg, detection=det, detection_cascade=cascade,
        detection_centernet2=centernet2, detection_image_labels=labelled)
    assert (work / 'results.png').stat().st_size > 1000
    assert 'POMP (source)' in (work / 'results.md').read_text()
    # the same seed reproduces the table to the printed digits
    again = tool.main(argv + ['--work-dir', str(tmp_path / 'work2')])
    assert again.pop(tool.SEG_KEY) == seg
    assert again.pop(tool.DET_KEY) == det
    assert again.pop(tool.CASCADE_KEY) == cascade
    assert again.pop(tool.CENTERNET2_KEY) == centernet2
    assert again.pop(tool.IMAGE_LABEL_KEY) == labelled
    assert report.miniworld_table(again) == report.miniworld_table(results)


def test_mean_and_sample_std_match_an_independent_computation():
    from pomp_mm.benchmarks.miniworld.seeds import aggregate, cell, mean_std
    trees = [{'t': {'m': [83.0, 84.5, 0.1]}, 'd': {'m': [1.0, 2.0]}},
             {'t': {'m': [85.0, 88.0, 0.2]}, 'd': {'m': [1.5, 2.0]}},
             {'t': {'m': [90.0, 86.0, 0.6]}, 'd': {'m': [4.0, 2.0]}}]
    mean, std = aggregate(trees)
    for path in (('t', 'm'), ('d', 'm')):
        cols = np.array([t[path[0]][path[1]] for t in trees])
        assert mean[path[0]][path[1]] == pytest.approx(cols.mean(0),
                                                       rel=1e-12)
        assert std[path[0]][path[1]] == pytest.approx(cols.std(0, ddof=1),
                                                      rel=1e-12)
    assert std['d']['m'][1] == 0.0
    assert mean_std([7.0]) == (7.0, None)
    assert cell(84.25, None) == '84.2' and cell(85.0, 3.6056) == '85.0 ± 3.6'
    with pytest.raises(ValueError) as e:
        aggregate([{'t': [1.0, 2.0]}, {'t': [1.0]}])
    assert str(e.value) == (
        "aggregate: results['t'] has 2 values in the first seed and [1.0] in "
        'another; expected the same table for every seed')
    with pytest.raises(ValueError) as e:
        aggregate([{'t': [1.0]}, {'t': [float('nan')]}])
    assert str(e.value) == ("aggregate: results['t'][0] is nan in one seed; "
                            'expected a finite number')


def test_outside_spread_rule():
    from pomp_mm.benchmarks.miniworld.seeds import outside_spread
    assert outside_spread((90.0, 0.5), (88.0, 1.0))  # 2.0 > 1.5
    assert not outside_spread((90.0, 1.0), (88.0, 1.0))  # 2.0 is not > 2.0
    assert not outside_spread((88.0, 0.1), (90.0, 0.1))
    assert not outside_spread((90.0, None), (80.0, None))  # one seed


class _FakeRunner:
    """Stands in for the Runner of build_runner in tools/miniworld.py:
    ``train`` writes what the real trainings write (prompt, checkpoint) and
    records its work dir; ``test`` returns a number made from the loaded
    prompt file, so every cell is known in closed form (:func:`_expected`).
    """
    trained, tested = [], []

    def __init__(self, cfg):
        import types
        self.cfg = cfg
        head = cfg.model.get('roi_head', {}).get('bbox_head', {})
        head = head[0] if isinstance(head, list) else head  # cascade
        self.model = types.SimpleNamespace(
            prompt=head.get('cls_predictor_cfg', {}).get(
                'prompt_learner', {}).get('prompt_checkpoint'),
            clip=types.SimpleNamespace(image_size=(64, 64)),
            test_cfg=types.SimpleNamespace())

    @classmethod
    def from_cfg(cls, cfg):
        return cls(cfg)

    def train(self):
        import os
        work = self.cfg.work_dir
        _FakeRunner.trained.append(work)
        os.makedirs(work, exist_ok=True)
        seed = self.cfg.randomness.seed
        name = osp.basename(work)
        max_epochs = self.cfg.train_cfg.max_epochs
        ckpt = osp.join(work, f'epoch_{max_epochs}.pth')
        hook = self.cfg.default_hooks.checkpoint
        if osp.isfile(ckpt) and hook.type == 'SafeCheckpointHook':
            # as SafeCheckpointHook refuses a fresh start over checkpoints
            assert hook.overwrite, f'{work}: fresh start over {ckpt}'
        with open(osp.join(work, 'prompt_latest.pth'), 'w') as f:
            f.write(f'{seed} {name}')
        with open(ckpt, 'w') as f:
            f.write(f'{seed} {name}')

    def test(self):
        _FakeRunner.tested.append(self.cfg.work_dir)
        prompt = _prompt_value(self.model.prompt)
        kind = self.cfg.test_evaluator.type
        if kind == 'Accuracy':
            subset = self.cfg.test_dataloader.dataset.subset
            return {'accuracy/top1': prompt + (5 if subset == 'seen' else 0)}
        if kind == 'HIoUMetric':
            return {'mIoU-seen': prompt / 2, 'mIoU-unseen': prompt / 3,
                    'hIoU': prompt / 4}
        seed = self.cfg.randomness.seed
        if kind == 'PompOVCocoMetric':  # the cascade: boxes and masks
            return {'coco/bbox_base_ap50': (prompt + seed) / 400,
                    'coco/bbox_novel_ap50': (prompt - seed) / 500,
                    'coco/segm_base_ap50': (prompt + 2 * seed) / 600,
                    'coco/segm_novel_ap50': (prompt - 2 * seed) / 700}
        if self.cfg.train_dataloader.dataset.type == 'ConcatDataset':
            # image labels: the row's own numbers, and what it was given
            labelled = self.cfg.train_dataloader.dataset.datasets[1]
            head = self.cfg.model.roi_head.bbox_head
            assert head.loss_cls.cat_freq_path == osp.join(
                labelled.data_root, 'cat_info_seen.json')
            assert head.num_classes == 3  # all classes of the stand-in
            return {'coco/base_ap50': (prompt + seed) / 250,
                    'coco/novel_ap50': (prompt + 3 * seed) / 150}
        return {'coco/base_ap50': (prompt + seed) / 200,
                'coco/novel_ap50': (prompt - seed) / 300}


def _prompt_value(path):
    """50 for the hand template; else seed**2 + a per-prompt offset."""
    if path is None:
        return 50.0
    seed, name = open(path).read().split()
    return 60.0 + int(seed)**2 + (3.0 if name == 'pomp' else 1.0)


def _expected(seed):
    """The per-seed result tree that _FakeRunner implies."""
    vals = {'hand template': 50.0,
            'CoOp (target seen, 8 shots)': 61.0 + seed**2,
            'POMP (source)': 63.0 + seed**2}
    h = {m: [v + 5, v] for m, v in vals.items()}
    for m, (a, b) in h.items():
        h[m].append(2 * a * b / (a + b))
    return {'stars_hearts': h,
            'segmentation': {m: [v / 2, v / 3, v / 4]
                             for m, v in vals.items()},
            'detection': {m: [(v + seed) / 2, (v - seed) / 3]
                          for m, v in vals.items()}}


def _assert_close(tree, expected):
    """Result trees equal up to float rounding (pytest.approx is flat)."""
    assert list(tree) == list(expected)
    for k, rows in expected.items():
        assert list(tree[k]) == list(rows)
        for m, v in rows.items():
            assert tree[k][m] == pytest.approx(v, rel=1e-12)


@pytest.fixture
def fake_miniworld(tmp_path, monkeypatch):
    """tools/miniworld.py with the fake runner, a stand-in CLIP file and
    stand-in scenes: the real configs, keys, caches and tables."""
    import copy

    from mmengine.config import Config
    tool = mw_driver
    monkeypatch.setattr(tool, 'build_runner', _FakeRunner.from_cfg)
    parsed = {}

    class ParsedOnce(Config):
        """Config.fromfile parses each config once (mmdet's take ~0.5 s)."""

        @staticmethod
        def fromfile(path, *args, **kwargs):
            if path not in parsed:
                parsed[path] = Config.fromfile(path, *args, **kwargs)
            return copy.deepcopy(parsed[path])

    monkeypatch.setattr(tool, 'Config', ParsedOnce)
    # speed only: the keys hash the config's full content without yapf's
    # layout (Config.pretty_text formats it, ~0.5 s a call)
    monkeypatch.setattr(Config, 'pretty_text',
                        property(lambda cfg: repr(cfg.to_dict())))
    monkeypatch.setattr(tool, 'load_prompt',
                        lambda model, path: setattr(model, 'prompt', path))
    root = tmp_path / 'scenes'
    root.mkdir()
    (root / 'classes.json').write_text(json.dumps({'seen': [1, 2],
                                                   'classes': [1, 2, 3]}))
    for split in ('train', 'test'):
        (root / f'instances_{split}.json').write_text(f'{{"s": "{split}"}}')
    monkeypatch.setattr(tool, 'scenes', lambda args: str(root))
    clip = tmp_path / 'clip.pt'
    clip.write_text('a stand-in CLIP')
    _FakeRunner.trained.clear()
    _FakeRunner.tested.clear()
    argv = ['--work-dir', str(tmp_path / 'work'), '--clip', str(clip),
            '--targets', 'stars_hearts', '--seg-target', 'stars_hearts']
    return tool, argv, tmp_path / 'work'


def test_seeds_report_mean_and_sample_std_per_cell(fake_miniworld):
    tool, argv, work = fake_miniworld
    res = tool.main(argv + ['--seeds', '0', '1', '3'])
    per_seed = [_expected(s) for s in (0, 1, 3)]
    assert res['seeds'] == [0, 1, 3]
    _assert_close(res['per_seed']['3'], per_seed[2])
    for block, rows in per_seed[0].items():
        for m in rows:
            values = np.array([p[block][m] for p in per_seed])
            assert res['mean'][block][m] == pytest.approx(values.mean(0))
            assert res['sample_std'][block][m] == pytest.approx(
                values.std(0, ddof=1))
    # POMP's unseen top-1: 63 + s^2 over s = 0, 1, 3 -> 66.33 ± 4.93
    pomp = np.array([63.0, 64.0, 72.0])
    text = (work / 'results.md').read_text()
    assert (f'| POMP (source) | {pomp.mean() + 5:.1f} ± '
            f'{pomp.std(ddof=1):.1f} | {pomp.mean():.1f} ± '
            f'{pomp.std(ddof=1):.1f} |') in text
    assert '| hand template | 55.0 ± 0.0 | 50.0 ± 0.0 |' in text
    # POMP - hand, unseen: +16.3 against a spread of 4.93 + 0; POMP - CoOp:
    # +2.0 against 4.93 + 4.93
    assert ('| stars_hearts unseen | +16.3 (spread 4.9, outside) | '
            '+2.0 (spread 9.9, within) |') in text
    assert json.loads((work / 'results.json').read_text()) == res


def test_seeds_train_and_evaluate_each_seed_once(fake_miniworld):
    tool, argv, work = fake_miniworld
    stages = ['pomp', 'coop_stars_hearts', 'det_hand', 'det_coop',
              'det_pomp']

    def trained(seeds):
        return sorted(osp.join(str(work), f'seed{s}', d) for s in seeds
                      for d in stages)

    argv = argv + ['--no-seg']  # segmentation is checked above
    tool.main(argv + ['--seeds', '0', '1'])
    assert sorted(_FakeRunner.trained) == trained([0, 1])
    _FakeRunner.trained.clear()
    _FakeRunner.tested.clear()
    res = tool.main(argv + ['--seeds', '0', '1', '2'])
    assert sorted(_FakeRunner.trained) == trained([2])  # 0, 1 reused
    # seed 2: CoOp and POMP on seen + unseen, and 3 detectors; the hand
    # template's zero-shot tests are seed-free and come from the cache
    assert len(_FakeRunner.tested) == 4 + 3
    expected = _expected(2)
    del expected['segmentation']
    _assert_close(res['per_seed']['2'], expected)
    # one seed prints as before: no spread, the seed's own numbers
    _FakeRunner.trained.clear()
    argv.append('--no-det')
    one = tool.main(argv + ['--seeds', '1'])
    assert _FakeRunner.trained == []
    assert one == {'stars_hearts': res['per_seed']['1']['stars_hearts']}
    assert '| POMP (source) | 69.0 | 64.0 |' in (work /
                                               'results.md').read_text()
    # a prompt whose stamp is gone, or that another config trained, is
    # retrained, never reused
    (work / 'seed1' / 'pomp' / 'miniworld_stage.json').unlink()
    tool.main(argv + ['--seeds', '1'])
    assert _FakeRunner.trained == [str(work / 'seed1' / 'pomp')]
    _FakeRunner.trained.clear()
    tool.main(argv + ['--seeds', '1', '--source-classes', '100'])
    assert _FakeRunner.trained == [str(work / 'seed1' / 'pomp')]


def test_seeds_must_be_distinct(fake_miniworld, capsys):
    tool, argv, _ = fake_miniworld
    with pytest.raises(SystemExit):
        tool.main(argv + ['--seeds', '0', '1', '0'])
    assert capsys.readouterr().err.splitlines()[-1] == (
        'miniworld.py: error: --seeds: seed 0 is given 2 times; expected '
        'distinct training seeds')
    assert _FakeRunner.trained == []


def _two_seeds_beside_faster(tool, argv, work, model, prefix):
    """``--det-models faster MODEL`` for seeds 0 and 1: the Faster R-CNN
    and MODEL trained once per prompt and seed (work dirs ``det_*`` and
    ``PREFIX*``); the results."""
    res = tool.main(argv + ['--no-seg', '--det-models', 'faster', model,
                            '--seeds', '0', '1'])
    dirs = [f'{p}{m}' for p in ('det_', prefix)
            for m in ('hand', 'coop', 'pomp')]
    assert sorted(d for d in _FakeRunner.trained if '/det' in d) == sorted(
        osp.join(str(work), f'seed{s}', d) for s in (0, 1) for d in dirs)
    return res


@pytest.mark.parametrize('model,prefix,key,heading', [
    ('cascade', 'detc_', 'detection_cascade', 'Detection, cascade + masks'),
    ('centernet2', 'detcn_', 'detection_centernet2',
     'Detection, CenterNet2 (cascade + masks)')])
def test_cascade_rows_per_seed_beside_the_faster_rows(fake_miniworld, model,
                                                      prefix, key, heading):
    """--det-models faster cascade (or centernet2): one cascade detector per
    prompt and seed (configs/miniworld/det_ov_cascade.py, or
    det_ov_centernet2.py with CenterNet proposals), its box and mask AP50s
    in their own row, table, gains and plot; the Faster rows as before."""
    tool, argv, work = fake_miniworld
    res = _two_seeds_beside_faster(tool, argv, work, model, prefix)
    for seed in (0, 1):
        want = _expected(seed)
        vals = {m: v[0] * 2 - seed for m, v in want['detection'].items()}
        cascade = {m: [(v + seed) / 4, (v - seed) / 5, (v + 2 * seed) / 6,
                       (v - 2 * seed) / 7] for m, v in vals.items()}
        got = res['per_seed'][str(seed)]
        _assert_close({k: got[k] for k in ('detection', key)},
                      {'detection': want['detection'], key: cascade})
    text = (work / 'results.md').read_text()
    assert f'{heading} (stars_hearts scenes):' in text
    assert '| method | box AP50 base | box AP50 novel | mask AP50 base | ' \
        'mask AP50 novel |' in text
    assert f'| {key} mask AP50 novel |' in text
    assert (work / 'results.png').stat().st_size > 1000


def test_image_label_rows_per_seed_beside_the_faster_rows(fake_miniworld,
                                                          monkeypatch):
    """--det-models faster image-labels: the Faster R-CNN once more per
    prompt and seed with the image-labelled set
    (configs/miniworld/det_ov_image_labels.py): all classes as its training
    vocabulary, the set's folder and box frequencies in its config, its
    AP50s in their own row, table, gains and plot panel; its key covers the
    image-labelled files."""
    tool, argv, work = fake_miniworld
    labelled = work.parent / 'image_labels'
    labelled.mkdir()
    for name in ('classes', 'image_labels', 'cat_info_seen'):
        (labelled / f'{name}.json').write_text(f'["{name}"]')
    monkeypatch.setattr(tool, 'image_labels',
                        lambda args, root: str(labelled))
    res = _two_seeds_beside_faster(tool, argv, work, 'image-labels',
                                   'deti_')
    argv = argv + ['--no-seg', '--det-models', 'faster', 'image-labels']
    for seed in (0, 1):
        want = _expected(seed)
        vals = {m: v[0] * 2 - seed for m, v in want['detection'].items()}
        got = res['per_seed'][str(seed)]
        _assert_close(
            {k: got[k] for k in ('detection', 'detection_image_labels')},
            {'detection': want['detection'],
             'detection_image_labels': {
                 m: [(v + seed) / 2.5, (v + 3 * seed) / 1.5]
                 for m, v in vals.items()}})
    text = (work / 'results.md').read_text()
    assert 'Detection + image labels (stars_hearts scenes):' in text
    assert '| detection_image_labels AP50 novel (unseen) |' in text
    # another image-labelled set is another key: the 3 detectors retrain
    _FakeRunner.trained.clear()
    (labelled / 'image_labels.json').write_text('["other"]')
    tool.main(argv + ['--seeds', '0'])
    assert sorted(_FakeRunner.trained) == sorted(
        osp.join(str(work), 'seed0', f'deti_{m}')
        for m in ('hand', 'coop', 'pomp'))
