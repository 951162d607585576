"""Detic's claim in miniature: the image-labelled set of a mini-world
target, the box half that keeps the seen classes' boxes under the full
vocabulary, the batch sampler that mixes both, the federated loss that
never scores an unseen class on a box image, and
configs/miniworld/det_ov_image_labels.py end to end."""
import json
import os.path as osp
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from PIL import Image

import pomp_mm.det  # noqa: F401  (registers the loss, sampler, datasets)
from pomp_mm.benchmarks.miniworld import render_scene, sample_scene
from pomp_mm.benchmarks.miniworld.det import (MiniWorldCocoDataset,
                                              MiniWorldImageLabelDataset)
from pomp_mm.benchmarks.miniworld.export import (export_image_labels,
                                                 export_scenes,
                                                 target_vocabulary)
from pomp_mm.det import MultiSourceEpochSampler, PompSigmoidCELoss

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TARGET = 'stars_hearts'  # 50 seen + 50 unseen classes


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp('mwi')
    scenes = export_scenes(str(base / 'scenes'), TARGET,
                           [('train', 12), ('test', 4)], size=96, seed=3)
    labelled = export_image_labels(str(base / 'labels'), TARGET, per_class=2,
                                   seed=3, scene_root=scenes)
    return scenes, labelled


def test_image_labels_are_single_object_images_of_every_class(world):
    scenes, labelled = world
    vocab = target_vocabulary(TARGET)
    data = json.load(open(osp.join(labelled, 'image_labels.json')))
    assert data['annotations'] == []
    assert [c['name'] for c in data['categories']] == vocab['classes']
    assert len(data['images']) == 2 * 100
    # class i+1 twice, in the order of classes (seen, then unseen), each
    # image the render of one object of it from the set's own stream
    rng = np.random.default_rng([3, zlib.crc32(b'image_labels')])
    for k, info in enumerate(data['images']):
        label = k // 2
        assert info['pos_category_ids'] == [label + 1]
        scene = sample_scene(rng, [vocab['ids'][label]], 'clean', 64)
        assert len(scene.objects) == 1
        disk = np.asarray(Image.open(osp.join(labelled, 'images',
                                              info['file_name'])))
        np.testing.assert_array_equal(disk, render_scene(scene)[0])
    meta = json.load(open(osp.join(labelled, 'classes.json')))
    assert meta['classes'] == vocab['classes']
    assert (meta['per_class'], meta['seed']) == (2, 3)


def test_box_frequencies_count_seen_boxes_only(world):
    scenes, labelled = world
    info = json.load(open(osp.join(labelled, 'cat_info_seen.json')))
    coco = json.load(open(osp.join(scenes, 'instances_train.json')))
    seen = set(json.load(open(osp.join(scenes, 'classes.json')))['seen'])
    names = {c['id']: c['name'] for c in coco['categories']}
    assert [c['id'] for c in info] == sorted(names)
    for c in info:  # counted again here from the annotations
        anns = [a for a in coco['annotations'] if a['category_id'] == c['id']]
        if names[c['id']] in seen:
            assert c['image_count'] == len({a['image_id'] for a in anns})
            assert c['instance_count'] == len(anns)
        else:
            assert c['image_count'] == c['instance_count'] == 0
    assert sum(c['image_count'] > 0 for c in info) > 5  # the test can fail


def test_export_refuses_scenes_of_another_target(world, tmp_path):
    scenes, _ = world
    with pytest.raises(ValueError, match='its classes are not those of '
                       'mixed200'):
        export_image_labels(str(tmp_path / 'x'), 'mixed200', 1,
                            scene_root=scenes)
    assert not osp.exists(tmp_path / 'x')


def test_all_classes_with_seen_boxes_equals_the_seen_subset(world):
    """boxes='seen': the vocabulary of 'all', the images and boxes of
    'seen' (same labels: the seen classes come first)."""
    scenes, _ = world
    seen = MiniWorldCocoDataset(scenes, split='train', subset='seen',
                                filter_cfg=dict(filter_empty_gt=True))
    both = MiniWorldCocoDataset(scenes, split='train', subset='all',
                                boxes='seen',
                                filter_cfg=dict(filter_empty_gt=True))
    full = MiniWorldCocoDataset(scenes, split='train', subset='all',
                                filter_cfg=dict(filter_empty_gt=True))
    assert len(both.metainfo['classes']) == 100
    assert both.metainfo['classes'][:50] == seen.metainfo['classes']

    def boxes(ds):
        return [(d['img_id'], [(i['bbox'], i['bbox_label'])
                               for i in d['instances']])
                for d in map(ds.get_data_info, range(len(ds)))]
    assert boxes(both) == boxes(seen)
    assert boxes(full) != boxes(seen)  # unseen boxes exist in these scenes
    with pytest.raises(ValueError, match="boxes='x': expected 'subset' or "
                       "'seen'"):
        MiniWorldCocoDataset(scenes, split='train', boxes='x')


def test_image_label_dataset_labels_index_the_scene_vocabulary(world):
    scenes, labelled = world
    ds = MiniWorldImageLabelDataset(labelled)
    assert ds.metainfo['classes'] == MiniWorldCocoDataset(
        scenes, split='train').metainfo['classes']
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [d['image_labels'] for d in infos] == [[k // 2]
                                                  for k in range(200)]
    assert all(d['instances'] == [] for d in infos)


def test_multi_source_epoch_sampler():
    from mmengine.dataset import ConcatDataset

    class Sized(torch.utils.data.Dataset):
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

    data = ConcatDataset.__new__(ConcatDataset)
    data.datasets = [Sized(10), Sized(7)]
    data.cumulative_sizes = [10, 17]
    sampler = MultiSourceEpochSampler(data, batch_size=6,
                                      source_ratio=[2, 1], seed=0)
    # an epoch: ceil(10 / 4) = 3 batches of 4 box + 2 image indices
    assert len(sampler) == 18
    epochs = [list(sampler) for _ in range(3)]
    for idx in epochs:
        assert len(idx) == 18
        for b in range(3):
            batch = idx[6 * b:6 * b + 6]
            assert all(i < 10 for i in batch[:4])
            assert all(10 <= i < 17 for i in batch[4:])
    # each source's shuffled stream goes on across epochs: the first 10
    # box indices are one permutation, as are the first 7 image indices
    flat = [i for idx in epochs for i in idx]
    box = [i for i in flat if i < 10]
    image = [i - 10 for i in flat if i >= 10]
    assert sorted(box[:10]) == list(range(10))
    assert sorted(image[:7]) == list(range(7))
    # a DataLoader over it ends its epoch (mmdet's sampler never does)
    loader = torch.utils.data.DataLoader(list(range(17)), batch_size=6,
                                         sampler=sampler)
    assert len(loader) == 3 and len(list(loader)) == 3


def test_box_images_never_score_an_unseen_class(world):
    """The config's federated loss with the seen box counts: on box RoIs
    it is the plain sigmoid CE over the seen columns, exactly what
    det_ov.py's 50-class head computes, and no unseen column gets a
    gradient (the global RNG is not used)."""
    _, labelled = world
    cfg = Config.fromfile(osp.join(ROOT, 'configs/miniworld/'
                                   'det_ov_image_labels.py'))
    loss_cfg = dict(cfg.model.roi_head.bbox_head.loss_cls)
    loss_cfg.pop('type')
    loss_cfg.update(cat_freq_path=osp.join(labelled, 'cat_info_seen.json'),
                    fed_loss_num_cat=100)
    fed = PompSigmoidCELoss(**loss_cfg)
    info = json.load(open(osp.join(labelled, 'cat_info_seen.json')))
    boxed = [i for i, c in enumerate(info) if c['image_count'] > 0]
    torch.manual_seed(0)
    score = torch.randn(32, 101, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor(boxed[:3] * 6 + [100] * 14)  # 100 = background
    state = torch.get_rng_state()
    loss = fed(score, labels)
    assert torch.equal(torch.get_rng_state(), state)
    loss.backward()
    unboxed = [i for i in range(100) if i not in boxed]
    assert score.grad[:, unboxed].abs().max() == 0
    assert score.grad[:, 50:100].abs().max() == 0  # no unseen column
    # the same number written out over the classes with boxes
    target = F.one_hot(labels, 101)[:, :100].double()
    bce = F.binary_cross_entropy_with_logits(
        score[:, :100], target, reduction='none')[:, boxed]
    torch.testing.assert_close(loss, bce.sum() / 32)


def test_config_trains_boxes_and_image_labels(world, clip_weights, tmp_path):
    """configs/miniworld/det_ov_image_labels.py, shrunk: mixed batches
    train with finite box and image-label losses, the vocabulary is all
    100 classes in training and at test, and AP50 base/novel come out."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner
    scenes, labelled = world
    cfg = Config.fromfile(osp.join(ROOT, 'configs/miniworld/'
                                   'det_ov_image_labels.py'))
    head = cfg.model.roi_head.bbox_head
    head.num_classes = 100
    head.loss_cls.cat_freq_path = osp.join(labelled, 'cat_info_seen.json')
    head.cls_predictor_cfg.prompt_learner.clip = dict(
        type='FrozenCLIP', model_name='pomp-test-vit',
        checkpoint=clip_weights, text_only=True)
    boxes, images = cfg.train_dataloader.dataset.datasets
    boxes.data_root, images.data_root = scenes, labelled
    cfg.train_dataloader.batch_size = cfg.train_dataloader.sampler.\
        batch_size = 3  # 2 box scenes + 1 image-labelled image
    cfg.test_dataloader.dataset.data_root = scenes
    cfg.test_dataloader.batch_size = 2
    cfg.test_evaluator.ann_file = osp.join(scenes, 'instances_test.json')
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.model.test_cfg.rcnn.score_thr = 0.0
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler = []
    cfg.work_dir = str(tmp_path)
    cfg.log_level = 'WARNING'
    seen_losses = []

    class Record(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            seen_losses.append({k: float(v) for k, v in outputs.items()})
            samples = data_batch['data_samples']
            assert ['image_labels' in s.metainfo for s in samples] == [
                False, False, True]

    runner = Runner.from_cfg(cfg)
    runner.register_hook(Record())
    n_box = len(runner.train_dataloader.dataset.datasets[0])
    runner.train()
    assert len(seen_losses) == -(-n_box // 2)  # one pass over the box scenes
    for losses in seen_losses:
        for name in ('loss_cls', 'loss_bbox', 'loss_image', 'loss_rpn_cls'):
            assert np.isfinite(losses[name]), (name, losses)
        assert losses['loss_image'] > 0
    assert len(runner.model.vocabulary) == 100
    metrics = runner.test()
    assert 0.0 <= metrics['coco/novel_ap50'] <= 1.0
    assert 0.0 <= metrics['coco/base_ap50'] <= 1.0
