"""Mini-world scenes on disk: masks/boxes vs the scene description, and the
mmseg / mmdet datasets and configs that read them."""
import json
import os.path as osp
import zlib

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image
from pycocotools import mask as mask_utils

from pomp_mm.benchmarks.miniworld import (class_name, render_scene,
                                          sample_scene)
from pomp_mm.benchmarks.miniworld.export import (IGNORE_INDEX, export_scenes,
                                                 scene_annotations,
                                                 target_vocabulary)
from pomp_mm.benchmarks.miniworld.world import object_region

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('mw') / 'stars_hearts')
    export_scenes(root, 'stars_hearts', [('train', 6), ('test', 4)],
                  size=96, seed=3)
    return root


def test_export_matches_the_scene_description(scenes):
    meta = json.load(open(osp.join(scenes, 'classes.json')))
    vocab = target_vocabulary('stars_hearts')
    assert meta['classes'] == vocab['classes'] == vocab['seen'] + \
        vocab['unseen']
    assert len(meta['seen']) == len(meta['unseen']) == 50
    coco = json.load(open(osp.join(scenes, 'instances_test.json')))
    assert [c['name'] for c in coco['categories']] == meta['classes']
    # re-draw the test scenes from the same stream: ids, masks, boxes agree
    rng = np.random.default_rng([3, zlib.crc32(b'test')])
    ids = vocab['ids']
    for img_info in coco['images']:
        k = int(rng.integers(2, 5))
        scene = sample_scene(rng, rng.choice(ids, k, replace=False).tolist(),
                             'clean', 96, single=False)
        img, inst = render_scene(scene)
        name = img_info['file_name']
        disk = np.asarray(Image.open(osp.join(scenes, 'images/test', name)))
        np.testing.assert_array_equal(disk, img)
        sem = np.asarray(Image.open(osp.join(scenes, 'annotations/test',
                                             name)))
        for i, obj in enumerate(scene.objects):
            label = meta['classes'].index(class_name(obj.class_id))
            assert (sem[inst == i + 1] == label).all()
        assert (sem[inst == 0] == IGNORE_INDEX).all()
        boxes = [a for a in coco['annotations']
                 if a['image_id'] == img_info['id']]
        for a in boxes:
            # the box is the visible extent of one object of that class
            obj_idx = [i for i, o in enumerate(scene.objects)
                       if class_name(o.class_id) ==
                       meta['classes'][a['category_id'] - 1]]
            assert len(obj_idx) == 1
            ys, xs = np.nonzero(inst == obj_idx[0] + 1)
            assert a['bbox'] == [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                 ys.max() - ys.min() + 1]
            assert a['area'] == len(xs)
            # the instance mask: the object's visible pixels (COCO RLE)
            np.testing.assert_array_equal(
                mask_utils.decode(a['segmentation']), inst == obj_idx[0] + 1)
        # boxes only for objects at least 30% visible
        kept = {a['category_id'] - 1 for a in boxes}
        for i, obj in enumerate(scene.objects):
            frac = (inst == i + 1).sum() / object_region(obj, 96).sum()
            label = meta['classes'].index(class_name(obj.class_id))
            assert (label in kept) == (frac >= 0.3)


def test_export_is_atomic_and_refuses_overwrite(scenes, tmp_path):
    with pytest.raises(FileExistsError, match='exists; pass overwrite'):
        export_scenes(scenes, 'stars_hearts', [('test', 1)])
    with pytest.raises(ValueError, match="unknown mini-world target 'x'"):
        export_scenes(str(tmp_path / 'x'), 'x')
    assert not (tmp_path / 'x').exists()
    # an export that fails midway leaves neither the folder nor temp files
    with pytest.raises(ValueError, match='objects='):
        export_scenes(str(tmp_path / 'bad'), 'stars_hearts', objects=(3, 2))
    assert list(tmp_path.iterdir()) == []


def test_scene_annotations_hand_case():
    from pomp_mm.benchmarks.miniworld.world import Scene, SceneObject
    a, b = 5, 17
    scene = Scene([SceneObject(a, 20, 20, 10, 0),
                   SceneObject(b, 60, 60, 12, 0)], size=80)
    img, inst = render_scene(scene)
    sem, boxes = scene_annotations(scene, inst, {a: 0, b: 1})
    assert set(np.unique(sem)) == {0, 1, IGNORE_INDEX}
    assert [x['label'] for x in boxes] == [0, 1]
    ys, xs = np.nonzero(inst == 2)
    assert boxes[1]['bbox'] == [xs.min(), ys.min(), np.ptp(xs) + 1,
                                np.ptp(ys) + 1]


def test_mmseg_dataset_reads_the_export(scenes, mmseg_scope):
    from pomp_mm.benchmarks.miniworld.seg import MiniWorldSegDataset
    ds = MiniWorldSegDataset(
        data_root=scenes, split='test',
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')])
    assert len(ds) == 4 and len(ds.metainfo['classes']) == 100
    assert len(ds.metainfo['unseen_classes']) == 50
    sample = ds[0]['data_samples']
    gt = sample.gt_sem_seg.data.numpy()[0]
    disk = np.asarray(Image.open(osp.join(scenes, 'annotations/test',
                                          '00000.png')))
    np.testing.assert_array_equal(gt, disk)
    with pytest.raises(FileNotFoundError, match="has no 'val' split"):
        MiniWorldSegDataset(data_root=scenes, split='val')
    with pytest.raises(FileNotFoundError, match='export the scenes first'):
        MiniWorldSegDataset(data_root=osp.dirname(scenes))


def test_mmdet_dataset_drops_unseen_boxes_in_training(scenes):
    from mmengine.registry import init_default_scope
    from pomp_mm.benchmarks.miniworld.det import MiniWorldCocoDataset
    init_default_scope('mmdet')
    meta = json.load(open(osp.join(scenes, 'classes.json')))
    coco = json.load(open(osp.join(scenes, 'instances_train.json')))
    seen_ids = {meta['classes'].index(n) + 1 for n in meta['seen']}
    train = MiniWorldCocoDataset(data_root=scenes, split='train',
                                 subset='seen', pipeline=[])
    assert train.metainfo['classes'] == meta['seen']
    n = sum(len(train.get_data_info(i)['instances'])
            for i in range(len(train)))
    assert n == sum(a['category_id'] in seen_ids
                    for a in coco['annotations'])
    test = MiniWorldCocoDataset(data_root=scenes, split='test',
                                subset='all', test_mode=True, pipeline=[])
    assert test.metainfo['novel_classes'] == meta['unseen']
    with pytest.raises(ValueError, match="subset='x'"):
        MiniWorldCocoDataset(data_root=scenes, subset='x')


def _scene_detector_cfg(name, scenes, clip_weights, work_dir):
    """A configs/miniworld detector config on the exported scenes, shrunk:
    the tiny test CLIP, batch 2, one epoch, no scheduler, every score."""
    import pomp_mm.det  # noqa: F401
    cfg = Config.fromfile(osp.join(ROOT, 'configs/miniworld', name))
    heads = cfg.model.roi_head.bbox_head
    heads = heads if isinstance(heads, list) else [heads]
    for head in heads:
        head.num_classes = 50  # stars_hearts' seen classes
    heads[0].cls_predictor_cfg.prompt_learner.clip = dict(
        type='FrozenCLIP', model_name='pomp-test-vit',
        checkpoint=clip_weights, text_only=True)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = scenes
        cfg[loader].batch_size = 2
    cfg.val_evaluator.ann_file = osp.join(scenes, 'instances_test.json')
    cfg.test_evaluator = cfg.val_evaluator
    cfg.model.test_cfg.rcnn.score_thr = 0.0  # an untrained model scores low
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.param_scheduler = []
    cfg.work_dir = str(work_dir)
    cfg.log_level = 'WARNING'
    return cfg


def test_det_config_trains_and_reports_novel_ap50(scenes, clip_weights,
                                                  tmp_path):
    """configs/miniworld/det_ov.py, shrunk: trains and tests on CPU."""
    from mmengine.runner import Runner

    cfg = _scene_detector_cfg('det_ov.py', scenes, clip_weights, tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    assert 0.0 <= metrics['coco/novel_ap50'] <= 1.0
    assert 0.0 <= metrics['coco/base_ap50'] <= 1.0
    assert runner.model.vocabulary == json.load(
        open(osp.join(scenes, 'classes.json')))['classes']


def test_det_cascade_config_trains_and_reports_box_and_mask_ap50(
        scenes, clip_weights, tmp_path):
    """configs/miniworld/det_ov_cascade.py, shrunk: trains on the exported
    boxes and masks, tests all 3 stages, and reports box and mask AP50 on
    the seen and unseen classes under their own names."""
    from mmengine.runner import Runner

    cfg = _scene_detector_cfg('det_ov_cascade.py', scenes, clip_weights,
                              tmp_path)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    for kind in ('bbox', 'segm'):
        for split in ('base', 'novel'):
            assert 0.0 <= metrics[f'coco/{kind}_{split}_ap50'] <= 1.0
    assert 'coco/novel_ap50' not in metrics  # no name without its type
    assert len(runner.model.classifiers()) == 3
