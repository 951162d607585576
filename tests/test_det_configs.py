"""The detection configs train and test end to end on generated data.

Images and annotations are generated in the real COCO / LVIS json formats;
the detector is shrunk to a ResNet-18 with 8 base channels, 96 px inputs and
the tiny random CLIP, so everything runs on CPU in seconds.
"""
import importlib.util
import itertools
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.datasets import CocoDataset, LVISV1Dataset
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

import pomp_mm.det  # noqa: F401
from pomp_mm.det import resolve_vocabulary

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                   'configs', 'det')
SIZE = 96



def make_images(root, n, boxes_per_image=2, seed=0):
    """Random images with coloured rectangles; returns [(file, boxes)]."""
    rng = np.random.RandomState(seed)
    out = []
    for i in range(n):
        img = rng.randint(0, 60, (SIZE, SIZE, 3)).astype(np.uint8)
        boxes = []
        for _ in range(boxes_per_image):
            x, y = rng.randint(0, SIZE // 2, 2)
            w, h = rng.randint(20, SIZE // 2, 2)
            img[y:y + h, x:x + w] = rng.randint(100, 255, 3)
            boxes.append([float(x), float(y), float(w), float(h)])
        name = f'{i:06d}.jpg'
        Image.fromarray(img).save(osp.join(root, name))
        out.append((name, boxes))
    return out


def coco_json(path, images, categories, label_ids, lvis=False):
    """A COCO (or LVIS v1) style annotation file."""
    imgs, anns = [], []
    for i, (name, boxes) in enumerate(images):
        info = dict(id=i + 1, file_name=name, width=SIZE, height=SIZE)
        if lvis:
            info.update(coco_url=f'http://images.cocodataset.org/train2017/{name}',
                        not_exhaustive_category_ids=[],
                        neg_category_ids=[])
        imgs.append(info)
        for j, box in enumerate(boxes):
            ann = dict(id=len(anns) + 1, image_id=i + 1, bbox=box,
                       area=box[2] * box[3],
                       category_id=label_ids[(i + j) % len(label_ids)])
            if not lvis:
                ann['iscrowd'] = 0
            anns.append(ann)
    with open(path, 'w') as f:
        json.dump(dict(images=imgs, annotations=anns, categories=categories),
                  f)
    return str(path)


def shrink(cfg, clip_weights, work_dir):
    """Tiny backbone, tiny CLIP, 96 px, no workers, no downloads."""
    m = cfg.model
    m.backbone = dict(type='ResNet', depth=18, base_channels=8,
                      out_indices=(0, 1, 2, 3), norm_eval=False,
                      init_cfg=None)
    m.neck = dict(type='FPN', in_channels=[8, 16, 32, 64], out_channels=16,
                  num_outs=5)
    m.rpn_head.in_channels = m.rpn_head.feat_channels = 16
    m.roi_head.bbox_roi_extractor.out_channels = 16
    head = m.roi_head.bbox_head
    head.in_channels, head.fc_out_channels = 16, 32
    head.cls_predictor_cfg.prompt_learner = dict(
        type='PompPromptLearner', n_ctx=4,
        clip=dict(type='FrozenCLIP', model_name='pomp-test-vit',
                  checkpoint=clip_weights, text_only=True))
    m.train_cfg.rpn.sampler.num = 64
    m.train_cfg.rcnn.sampler.num = 32
    m.test_cfg.rpn.nms_pre = m.test_cfg.rpn.max_per_img = 50
    m.test_cfg.rcnn.max_per_img = 20
    m.test_cfg.rcnn.score_thr = 0.0
    m.train_cfg.rpn_proposal.nms_pre = 200
    m.train_cfg.rpn_proposal.max_per_img = 100
    shrink_data(cfg, work_dir)
    cfg.optim_wrapper.optimizer.lr = 0.01
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    return cfg


def shrink_data(cfg, work_dir):
    """The model-independent part of shrink(): every pipeline of every
    (nested) dataset at SIZE px, no workers, one epoch, no validation, no
    scheduler, CPU/gloo, local logs only."""

    def small(pipeline):
        for t in pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (SIZE, SIZE)
            elif t['type'] == 'RandomChoiceResize':
                t['scales'] = [(SIZE, SIZE)]
            elif t['type'] == 'RandomResize':
                t.update(scale=(SIZE, SIZE), ratio_range=(0.9, 1.1))
            elif t['type'] == 'RandomCrop':
                t['crop_size'] = (SIZE, SIZE)

    def visit(ds):
        if 'pipeline' in ds:
            small(ds['pipeline'])
        for key in ('dataset', ):
            if key in ds:
                visit(ds[key])
        for sub in ds.get('datasets', []):
            visit(sub)

    for name in ('train_dataloader', 'test_dataloader'):
        loader = cfg[name]
        loader.num_workers = 0
        loader.persistent_workers = False
        visit(loader.dataset)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1,
                         val_interval=100)
    cfg.param_scheduler = []
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(work_dir)
    cfg.launcher = 'none'
    cfg.env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'),
                       mp_cfg=dict(mp_start_method='fork'))
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    return cfg


def set_data(loader, root, ann, **kw):
    ds = loader.dataset
    while ds.type in ('ClassBalancedDataset', ):
        ds = ds.dataset
    ds.update(data_root=str(root), ann_file=ann, data_prefix=dict(img=''),
              **kw)
    return ds


class Collect:
    """Wraps model.predict to keep the predicted samples of a test run."""

    def __init__(self, model):
        self.samples, self.vocabularies = [], []
        self._predict = model.predict
        model.predict = self

    def __call__(self, *args, **kwargs):
        out = self._predict(*args, **kwargs)
        self.samples += out
        return out


@pytest.fixture(scope='module')
def coco_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('coco')
    classes = resolve_vocabulary('coco')
    cats = [dict(id=i + 1, name=n, supercategory='x')
            for i, n in enumerate(classes)]
    base = [classes.index(n) + 1 for n in ('person', 'car', 'bird')]
    novel = [classes.index(n) + 1 for n in ('cat', 'dog')]
    train = coco_json(root / 'train.json', make_images(root, 4), cats, base)
    val = coco_json(root / 'val.json', make_images(root, 3, seed=1)[:3],
                    cats, base + novel)
    return root, train, val


@pytest.mark.slow
def test_ov_coco_trains_and_reports_novel_ap50(coco_data, clip_weights,
                                               tmp_path):
    root, train, val = coco_data
    cfg = Config.fromfile(osp.join(CONFIGS,
                                   'ov-coco_pomp_faster-rcnn_r50_fpn_1x.py'))
    shrink(cfg, clip_weights, tmp_path)
    set_data(cfg.train_dataloader, root, train)
    set_data(cfg.test_dataloader, root, val)
    cfg.test_evaluator.ann_file = val
    cfg.train_dataloader.batch_size = 2
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    # trained on the 48 base classes (VocabularyHook: training set classes)
    assert model._vocab['train'] == list(cfg.base_classes)
    model._use_vocabulary('train')
    assert model.classifiers()[0].class_weight().shape[1] == 49
    collect = Collect(model)
    metrics = runner.test()
    assert {'coco/novel_ap50', 'coco/base_ap50', 'coco/bbox_mAP'} <= set(
        metrics)
    # the test vocabulary (65 classes) came from data_sample.text
    assert model.vocabulary == list(cfg.all_classes)
    assert model.classifiers()[0].zs_weight.shape[1] == 66
    names = [n for s in collect.samples for n in
             s.pred_instances.label_names]
    labels = [i for s in collect.samples for i in
              s.pred_instances.labels.tolist()]
    assert names and names == [cfg.all_classes[i] for i in labels]
    assert 'zs_weight' not in ''.join(model.state_dict())


def ov_coco_train_json(root):
    """Generated COCO train json whose boxes are of a base class
    (person), a novel one (cat) and one outside the 65 (traffic light);
    its path and the categories."""
    classes = resolve_vocabulary('coco')
    cats = [dict(id=i + 1, name=n, supercategory='x')
            for i, n in enumerate(classes)]
    ids = [classes.index(n) + 1 for n in ('person', 'cat', 'traffic light')]
    path = coco_json(root / 'instances_train2017.json',
                     make_images(root, 4, boxes_per_image=3, seed=3), cats,
                     ids)
    return path, cats


def test_open_vocabulary_split_keeps_65_categories_and_base_boxes(
        tmp_path, capsys):
    src, cats = ov_coco_train_json(tmp_path)
    out, info = tmp_path / 'seen.json', tmp_path / 'cat_info.json'
    pomp_mm.det.datasets.main([
        src, str(out), '--categories', 'coco_ov65', '--boxes',
        'coco_ov_base48', '--cat-info', str(info)])
    assert capsys.readouterr().out.splitlines() == [
        f'removed 8 annotations outside --boxes -> {out}',
        f'class frequencies -> {info}']
    data, orig = json.load(open(out)), json.load(open(src))
    ov65 = resolve_vocabulary('coco_ov65')
    # the 65 categories with their COCO ids, in id order; all images
    assert [c['name'] for c in data['categories']] == ov65
    assert [c['id'] for c in data['categories']] == [
        c['id'] for c in cats if c['name'] in ov65]
    assert data['images'] == orig['images']
    person = resolve_vocabulary('coco').index('person') + 1
    assert data['annotations'] == [a for a in orig['annotations']
                                   if a['category_id'] == person]
    # the frequencies: 65 entries, base counted, novel 0
    freq = {c['name']: c['image_count'] for c in json.load(open(info))}
    assert list(freq) == ov65
    assert freq['person'] == 4 and freq['cat'] == 0
    assert sum(freq.values()) == 4
    # on box images the federated loss with these frequencies is BCE over
    # the base classes with boxes, nothing on the novel columns
    loss = pomp_mm.det.PompSigmoidCELoss(
        use_fed_loss=True, cat_freq_path=str(info), fed_loss_num_cat=65)
    score = torch.randn(6, 66, requires_grad=True)
    labels = torch.tensor([0, 0, 65, 65, 0, 65])  # person or background
    loss(score, labels).backward()
    target = torch.zeros(6, 65)
    target[labels < 65, 0] = 1
    scored = [ov65.index(n) for n in ov65 if freq[n] > 0]  # person only
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        score[:, scored], target[:, scored], reduction='sum') / 6
    torch.testing.assert_close(loss(score, labels), expected)
    novel = [ov65.index(n) for n in resolve_vocabulary('coco_ov_novel17')]
    assert score.grad[:, novel].abs().sum() == 0
    assert score.grad[:, 0].abs().sum() > 0


@pytest.mark.parametrize('args,message', [
    (['--categories', 'coco_ov65', '--boxes', 'coco_ov65x'],
     "vocabulary 'coco_ov65x': not a file nor a built-in list; expected a "
     "class-name file or one of ('coco', 'coco_ov65', 'coco_ov_base48', "
     "'coco_ov_novel17', 'lvis_v1', 'objects365v2')"),
    (['--categories', 'coco_ov_base48', '--boxes', 'coco_ov65'],
     "box class 'airplane' is not one of the kept categories"),
])
def test_open_vocabulary_split_refuses(tmp_path, args, message):
    src, _ = ov_coco_train_json(tmp_path)
    out = tmp_path / 'seen.json'
    with pytest.raises(ValueError) as e:
        pomp_mm.det.datasets.main([src, str(out)] + args)
    assert str(e.value) == message
    assert not out.exists()


def test_open_vocabulary_split_names_an_unknown_category(tmp_path):
    src, _ = ov_coco_train_json(tmp_path)
    with pytest.raises(ValueError) as e:
        pomp_mm.det.open_vocabulary_split(src, str(tmp_path / 'o.json'),
                                          ['person', 'unicorn'], ['person'])
    assert str(e.value) == (f"{src}: categories name 'unicorn' is not one "
                            'of its categories')
    with pytest.raises(SystemExit):
        pomp_mm.det.datasets.main([src, str(tmp_path / 'o.json'),
                                   '--categories', 'coco_ov65'])


@pytest.mark.slow
def test_ov_coco_max_size_caption_tags(clip_weights, tmp_path):
    """The OV-COCO max-size config: 65-class vocabulary, box images of the
    split file, caption-tag images labelled over the 65 classes (novel
    included, the others dropped), the max-size loss on them."""
    root = tmp_path / 'coco'
    root.mkdir()
    src, cats = ov_coco_train_json(root)
    box_ann = str(root / 'seen.json')
    cat_info = str(root / 'cat_info.json')
    pomp_mm.det.datasets.main([src, box_ann, '--categories', 'coco_ov65',
                               '--boxes', 'coco_ov_base48', '--cat-info',
                               cat_info])
    coco = resolve_vocabulary('coco')
    ov65 = resolve_vocabulary('coco_ov65')
    tags = [['cat'], ['person', 'traffic light'], ['dog', 'cat'],
            ['traffic light'], ['bus'], ['cake'], ['person'], ['tie'],
            ['cup'], ['knife']]
    images = make_images(root, len(tags), seed=4)
    cap_ann = str(root / 'captions_train2017_tags_allcaps.json')
    with open(cap_ann, 'w') as f:
        json.dump(dict(
            images=[dict(id=i + 1, file_name=n, width=SIZE, height=SIZE,
                         pos_category_ids=[coco.index(t) + 1 for t in tag],
                         captions=['a photo of ' + ' and '.join(tag)])
                    for i, ((n, _), tag) in enumerate(zip(images, tags))],
            categories=cats), f)
    cfg = Config.fromfile(osp.join(
        CONFIGS, 'ov-coco_pomp_faster-rcnn_r50_fpn_1x_max-size.py'))
    shrink(cfg, clip_weights, tmp_path / 'work')
    cfg.load_from = None
    cfg.model.roi_head.bbox_head.loss_cls.cat_freq_path = cat_info
    boxes, captions = cfg.train_dataloader.dataset.datasets
    boxes.update(data_root=str(root), ann_file=box_ann,
                 data_prefix=dict(img=''))
    captions.update(data_root=str(root), ann_file=cap_ann,
                    data_prefix=dict(img=''))
    # without captions, the image with only 'traffic light' (no label of
    # the 65) is dropped; with them (the config) it is kept for its caption
    tags_only = DATASETS.build(dict(captions, with_captions=False,
                                    pipeline=[]))
    assert len(tags_only) == len(tags) - 1
    runner = Runner.from_cfg(cfg)
    loader = runner.build_dataloader(cfg.train_dataloader)
    concat = loader.dataset
    assert len(concat.datasets[1]) == len(tags)
    samples = [concat.datasets[1][i]['data_samples']
               for i in range(len(concat.datasets[1]))]
    labels = {s.img_path.split('/')[-1]: s.image_labels for s in samples}
    assert labels[images[1][0]] == [ov65.index('person')]
    assert labels[images[2][0]] == sorted([ov65.index('dog'),
                                           ov65.index('cat')])
    assert labels[images[3][0]] == []
    assert samples[3].captions == ['a photo of traffic light']
    batch = next(iter(loader))
    kinds = ['image_labels' in s.metainfo for s in batch['data_samples']]
    assert kinds.count(False) == 2 and kinds.count(True) == 8
    # box images: base boxes only, labelled in the 65-class order
    for s in batch['data_samples']:
        if 'image_labels' not in s.metainfo:
            assert s.gt_instances.labels.tolist() and set(
                s.gt_instances.labels.tolist()) == {ov65.index('person')}
    model = runner.model
    runner.call_hook('before_train')  # VocabularyHook
    assert model._vocab['train'] == ov65
    model._use_vocabulary('train')
    data = model.data_preprocessor(batch, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert torch.isfinite(losses['loss_image']) and losses['loss_image'] > 0
    # the caption loss, computed again from the layers: CLIP text features
    # of each image's caption; the whole-image box through RoIAlign, the
    # shared fcs and the classifier's projection; 50 x cosine + bias; BCE
    # towards its own caption, negatives weighted 1.0; mean; x 0.1
    samples = data['data_samples']
    idx = [i for i, s in enumerate(samples) if 'image_labels' in s.metainfo]
    clip = model.classifiers()[0].prompt_learner.clip
    with torch.no_grad():
        text = torch.nn.functional.normalize(clip.encode_text(clip.tokenizer(
            [samples[i].captions[0] for i in idx])).float(), dim=-1)
    x = tuple(f[idx] for f in model.extract_feat(data['inputs']))
    rois = torch.tensor([[k, 0, 0, samples[i].img_shape[1],
                          samples[i].img_shape[0]]
                         for k, i in enumerate(idx)], dtype=torch.float32)
    roi_head = model.roi_head
    extractor = roi_head.bbox_roi_extractor
    feats = extractor(x[:extractor.num_inputs], rois).flatten(1)
    head = roi_head.bbox_head
    for fc in head.shared_fcs:
        feats = torch.relu(fc(feats))
    cls = head.fc_cls
    logits = cls.norm_temperature * torch.nn.functional.normalize(
        cls.linear(feats), dim=1) @ text.t()
    if cls.use_bias:
        logits = logits + cls.cls_bias
    target = torch.eye(len(idx))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target, reduction='none')
    want = 0.1 * ((bce * target).sum(1) +
                  1.0 * (bce * (1 - target)).sum(1)).mean()
    # float32, the same layers on other batch shapes: reduction order only
    torch.testing.assert_close(losses['loss_caption'], want, rtol=1e-4,
                               atol=1e-6)
    assert losses['loss_caption'] > 0
    model.zero_grad()
    losses['loss_caption'].backward(retain_graph=True)
    assert model.classifiers()[0].linear.weight.grad.abs().sum() > 0
    model.parse_losses(losses)[0].backward()
    assert model.classifiers()[0].linear.weight.grad.abs().sum() > 0


def test_caption_loss_weights_positives_and_negatives(clip_weights):
    """PompBBoxHead.caption_loss against BCE written out by hand, with
    Detic's default negative weight 0.125 and a caption weight."""
    head = MODELS.build(dict(
        type='PompBBoxHead', num_classes=2, in_channels=4,
        fc_out_channels=8, roi_feat_size=1, image_loss_weight=0.1,
        caption_weight=2.0, neg_cap_weight=0.125,
        cls_predictor_cfg=dict(
            type='PompZeroShotClassifier', use_bias=-4.6,
            prompt_learner=dict(
                type='PompPromptLearner', n_ctx=4,
                clip=dict(type='FrozenCLIP', model_name='pomp-test-vit',
                          checkpoint=clip_weights, text_only=True)),
            vocabulary=['cat', 'dog'])))
    torch.manual_seed(0)
    feats = torch.randn(2, 8)
    caps = torch.randn(3, head.fc_cls.zs_weight_dim)
    got = head.caption_loss(feats, caps, [2, 0])['loss_caption']
    z = torch.nn.functional.normalize(head.fc_cls.linear(feats), dim=1)
    c = torch.nn.functional.normalize(caps, dim=1)
    logits = 50.0 * z @ c.t() - 4.6
    total = 0.0
    for i, own in enumerate([2, 0]):
        for j in range(3):
            p = torch.sigmoid(logits[i, j])
            term = -torch.log(p) if j == own else -torch.log(1 - p)
            total = total + (term if j == own else 0.125 * term)
    torch.testing.assert_close(got, 0.1 * 2.0 * total / 2, rtol=1e-5,
                               atol=1e-6)
    empty = head.caption_loss(feats[:0], caps, [])['loss_caption']
    assert empty.item() == 0.0


def test_caption_loss_needs_a_text_tower(clip_weights, tmp_path):
    cfg = Config.fromfile(osp.join(CONFIGS, 'ov-coco_pomp_faster-rcnn_r50_'
                                   'fpn_1x_max-size.py'))
    shrink(cfg, clip_weights, tmp_path)
    npy = str(tmp_path / 'coco65.npy')
    np.save(npy, np.random.RandomState(0).randn(65, 32).astype(np.float32))
    head = cfg.model.roi_head.bbox_head
    head.cls_predictor_cfg.prompt_learner = None
    head.cls_predictor_cfg.zs_weight_path = npy
    head.loss_cls.use_fed_loss = False  # no frequency file needed
    with pytest.raises(ValueError) as e:
        MODELS.build(cfg.model)
    assert str(e.value) == (
        'PompTwoStageDetector: with_caption=True needs a CLIP text tower for '
        f'the captions: the classifier reads zs_weight_path {npy}; set '
        "caption_clip=dict(type='FrozenCLIP', model_name=..., "
        'checkpoint=...)')
    np.save(npy, np.zeros((65, 24), np.float32) + 1)
    cfg.model.caption_clip = dict(type='FrozenCLIP',
                                  model_name='pomp-test-vit',
                                  checkpoint=clip_weights)
    with pytest.raises(ValueError) as e:
        MODELS.build(cfg.model)
    assert str(e.value) == (
        'PompTwoStageDetector: caption_clip gives 32-d text features but the '
        'classifier scores 24-d ones; use the CLIP the class text features '
        'came from')


def test_image_label_dataset_names_bad_captions(tmp_path):
    ann = tmp_path / 'tags.json'
    ann.write_text(json.dumps(dict(
        images=[dict(id=7, file_name='a.jpg', width=8, height=8,
                     pos_category_ids=[1], captions='a cat')],
        categories=[dict(id=1, name='cat')])))
    with pytest.raises(ValueError) as e:
        DATASETS.build(dict(type='ImageLabelDataset', ann_file=str(ann),
                            metainfo=dict(classes=['cat']),
                            data_prefix=dict(img=''), with_captions=True,
                            pipeline=[]))
    assert str(e.value) == (
        f"ann_file {ann}: image id 7 has captions='a cat'; with_captions=True "
        "expects a non-empty list of strings (Detic's "
        'captions_train2017_tags_allcaps.json)')


@DATASETS.register_module(force=True)
class LVISJsonAsCoco(CocoDataset):
    """An LVIS v1 json read with pycocotools (faster than LVISV1Dataset;
    test_ov_lvis_real_lvis_metric uses the real one)."""

    METAINFO = LVISV1Dataset.METAINFO


def lvis_categories():
    names = resolve_vocabulary('lvis_v1')
    freq = ['r', 'c', 'f']
    return [dict(id=i + 1, name=n, synset=f'{n}.n.01', synonyms=[n],
                 def_='', frequency=freq[i % 3], image_count=(i % 7) * 3,
                 instance_count=(i % 7) * 5) for i, n in enumerate(names)]


@pytest.fixture(scope='module')
def lvis_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('lvis')
    cats = lvis_categories()
    ids = [c['id'] for c in cats if c['image_count'] > 0][:6]
    train = coco_json(root / 'lvis_v1_train.json', make_images(root, 4), cats,
                      ids, lvis=True)
    norare = str(root / 'lvis_v1_train_norare.json')
    n = pomp_mm.det.remove_rare(train, norare)
    kept = json.load(open(norare))['annotations']
    assert n > 0 and all(cats[a['category_id'] - 1]['frequency'] != 'r'
                         for a in kept)
    return root, norare


def image_label_json(root, cats, cat_indices, seed):
    """Detic's imagenet_lvis_image_info.json for one generated image per
    entry of ``cat_indices`` (its label: that LVIS category); its path."""
    images = make_images(root, len(cat_indices), seed=seed)
    info = dict(
        images=[dict(id=i + 1, file_name=n, width=SIZE, height=SIZE,
                     pos_category_ids=[cats[c]['id']])
                for i, ((n, _), c) in enumerate(zip(images, cat_indices))],
        categories=cats)
    path = osp.join(str(root), 'imagenet_lvis_image_info.json')
    with open(path, 'w') as f:
        json.dump(info, f)
    return path


def lvis_cfg(name, lvis_data, coco_data, clip_weights, work_dir):
    """An LVIS config on the generated LVIS-format json, read by
    CocoDataset (test_ov_lvis_real_lvis_metric runs mmdet's LVISV1Dataset
    and LVISMetric on it)."""
    root, norare = lvis_data
    cfg = Config.fromfile(osp.join(CONFIGS, name))
    shrink(cfg, clip_weights, work_dir)
    cfg.model.roi_head.bbox_head.loss_cls.cat_freq_path = norare
    if cfg.train_dataloader.dataset.type != 'ConcatDataset':
        ds = set_data(cfg.train_dataloader, root, norare)
        ds.type = 'LVISJsonAsCoco'
    return cfg


@pytest.mark.slow
def test_ov_lvis_fed_loss_and_cross_dataset_swap(lvis_data, coco_data,
                                                 clip_weights, tmp_path):
    cfg = lvis_cfg('xd-coco_pomp_faster-rcnn_r50_fpn_2x_lvis.py', lvis_data,
                   coco_data, clip_weights, tmp_path)
    croot, _, cval = coco_data
    set_data(cfg.test_dataloader, croot, cval)
    cfg.test_evaluator.ann_file = cval
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    model._use_vocabulary('train')
    assert len(model.vocabulary) == 1203
    clf = model.classifiers()[0]
    w_lvis = clf.class_weight().clone()
    assert clf.zs_weight.shape[1] == 1204
    collect = Collect(model)
    metrics = runner.test()
    assert 'coco/bbox_mAP_50' in metrics
    coco = resolve_vocabulary('coco')
    assert model.vocabulary == coco
    # 'person' is LVIS 'person' too: same prompt -> same classifier column
    lvis = resolve_vocabulary('lvis_v1')
    torch.testing.assert_close(clf.zs_weight[:, coco.index('person')],
                               w_lvis[:, lvis.index('person')])
    assert clf.zs_weight.shape[1] == 81
    names = [n for s in collect.samples for n in s.pred_instances.label_names]
    assert names and set(names) <= set(coco)


@pytest.mark.slow
def test_max_size_image_labels(lvis_data, coco_data, clip_weights,
                               tmp_path):
    cfg = lvis_cfg('ov-lvis_pomp_faster-rcnn_r50_fpn_2x_max-size.py',
                   lvis_data, coco_data, clip_weights, tmp_path)
    root, _ = lvis_data
    cats = lvis_categories()
    ann = image_label_json(root, cats, [3 * i + 1 for i in range(4)], seed=2)
    box_set = cfg.train_dataloader.dataset.datasets[0]
    box_set.dataset.update(type='LVISJsonAsCoco', data_root=str(root),
                           ann_file=lvis_data[1], data_prefix=dict(img=''))
    cfg.train_dataloader.dataset.datasets[1].update(
        data_root=str(root), ann_file=str(ann))
    cfg.train_dataloader.batch_size = 5
    runner = Runner.from_cfg(cfg)
    loader = runner.build_dataloader(cfg.train_dataloader)
    batch = next(iter(loader))
    kinds = ['image_labels' in s.metainfo for s in batch['data_samples']]
    assert kinds.count(True) == 4 and kinds.count(False) == 1
    # one pass over the box images per epoch, and the epoch ends
    assert len(loader) == len(loader.dataset.datasets[0])
    assert sum(1 for _ in itertools.islice(loader, len(loader) + 1)) == len(
        loader)
    model = runner.model
    model.set_vocabulary(resolve_vocabulary('lvis_v1'), 'train')
    data = model.data_preprocessor(batch, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'loss_image', 'loss_cls', 'loss_bbox', 'loss_rpn_cls'} <= set(
        losses)
    assert torch.isfinite(losses['loss_image']) and losses['loss_image'] > 0
    expected = [cats[3 * (s.metainfo['img_id'] - 1) + 1]['id'] - 1
                for s in batch['data_samples'] if 'image_labels' in s.metainfo]
    got = [s.metainfo['image_labels'][0] for s in batch['data_samples']
           if 'image_labels' in s.metainfo]
    assert got == expected
    runner.model.parse_losses(losses)[0].backward()
    clf = model.classifiers()[0]
    assert clf.linear.weight.grad.abs().sum() > 0
    assert clf.prompt_learner.ctx.grad is None  # frozen prompt


@pytest.mark.skipif(
    importlib.util.find_spec('lvis') is None,
    reason='the `lvis` package is not installed (pip install lvis); '
    "mmdet's LVISV1Dataset and LVISMetric need it")
def test_ov_lvis_real_lvis_metric(lvis_data, clip_weights, tmp_path):
    root, norare = lvis_data
    # LVISV1Dataset takes the path from coco_url ('train2017/<name>'), as
    # in the real layout data/coco/train2017/
    if not (root / 'train2017').exists():
        (root / 'train2017').symlink_to(root, target_is_directory=True)
    cfg = Config.fromfile(osp.join(CONFIGS,
                                   'ov-lvis_pomp_faster-rcnn_r50_fpn_2x.py'))
    shrink(cfg, clip_weights, tmp_path)
    cfg.model.roi_head.bbox_head.loss_cls.cat_freq_path = norare
    set_data(cfg.train_dataloader, root, norare)
    set_data(cfg.test_dataloader, root, norare)
    cfg.test_evaluator.ann_file = norare
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    assert 'lvis/bbox_APr' in metrics


@pytest.mark.skipif(importlib.util.find_spec('lvis') is None,
                    reason='the `lvis` package is not installed')
def test_lvis_eval_runs_on_numpy2_and_scores_independently(lvis_data):
    """lvis 0.5.3's LVISEval (np.float) runs after pomp_mm.det's patch, and
    its AP agrees with what the detections are: the ground truth itself
    scores 1.0; the same boxes shifted off their objects score 0.0. numpy
    itself keeps no ``float`` alias."""
    from lvis import LVIS, LVISEval, LVISResults
    _, norare = lvis_data
    gt = LVIS(norare)
    anns = json.load(open(norare))['annotations']

    def ap(shift):
        dets = [dict(image_id=a['image_id'], category_id=a['category_id'],
                     bbox=[a['bbox'][0] + shift, a['bbox'][1] + shift,
                           *a['bbox'][2:]], score=1.0) for a in anns]
        ev = LVISEval(gt, LVISResults(gt, dets), 'bbox')
        ev.run()
        return ev.get_results()['AP']

    assert ap(0) == pytest.approx(1.0)
    assert ap(SIZE) == pytest.approx(0.0)
    assert not hasattr(np, 'float')


def caption_files(tmp_path):
    """A COCO captions json, its categories (3 COCO classes) and an LVIS
    json with the synonyms of their synsets."""
    caps = ['A cat on a mat', 'the cats sleep.', 'A man eats a hotdog',
            'cows in a field.', 'a cow grazing', 'Two frankfurters',
            'nothing here', 'a photo of a cat']
    image_of = [1, 2, 3, 4, 4, 5, 6, 7]
    captions = tmp_path / 'captions_train2017.json'
    captions.write_text(json.dumps(dict(
        images=[dict(id=i, file_name=f'{i:012d}.jpg', width=SIZE,
                     height=SIZE) for i in range(1, 9)],
        annotations=[dict(id=k + 1, image_id=i, caption=c)
                     for k, (i, c) in enumerate(zip(image_of, caps))])))
    cats = tmp_path / 'instances.json'
    cats.write_text(json.dumps(dict(categories=[
        dict(id=17, name='cat'), dict(id=21, name='cow'),
        dict(id=58, name='hot dog')])))
    lvis = tmp_path / 'lvis_v1_val.json'
    lvis.write_text(json.dumps(dict(categories=[
        dict(id=1, synset='cat.n.01', synonyms=['cat']),
        dict(id=2, synset='beef.n.01', synonyms=['cow']),
        dict(id=3, synset='sausage.n.01',
             synonyms=['sausage', 'hotdog', 'frankfurter_(sausage)'])])))
    return str(captions), str(cats), str(lvis)


def test_caption_tags_as_detic_makes_them(tmp_path, capsys):
    """Detic's get_cc_tags rule: a synonym between spaces, or at the start
    or end of the lower-cased text of all captions; 'cats', 'cat.' and
    'frankfurters' name nothing; image 8 has no caption."""
    captions, cats, lvis = caption_files(tmp_path)
    out = tmp_path / 'tags.json'
    pomp_mm.det.datasets.main([captions, str(out), '--caption-tags', cats,
                               '--lvis', lvis])
    assert capsys.readouterr().out.strip() == (
        f'4 caption images written -> {out}; categories never named: 0')
    data = json.loads(out.read_text())
    got = {img['id']: (img['pos_category_ids'], img['captions'])
           for img in data['images']}
    assert got == {1: ([17], ['A cat on a mat']),
                   3: ([58], ['A man eats a hotdog']),
                   4: ([21], ['cows in a field.', 'a cow grazing']),
                   7: ([17], ['a photo of a cat'])}
    # the captions of image 4 joined: 'cows in a field. a cow grazing'
    n, counts = pomp_mm.det.caption_tags(captions, cats, str(out), lvis,
                                         keep_images=True)
    data = json.loads(out.read_text())
    tags = {img['id']: img['pos_category_ids'] for img in data['images']}
    assert n == 7 and tags == {1: [17], 2: [], 3: [58], 4: [21], 5: [],
                               6: [], 7: [17]}
    assert counts == {'cat': 2, 'cow': 1, 'hot dog': 1}
    assert data['categories'][2]['synonyms'][0] == 'sausage'
    # the first caption only: image 4's 'cows in a field.' names no cow
    n, _ = pomp_mm.det.caption_tags(captions, cats, str(out), lvis,
                                    all_captions=False)
    assert n == 3
    # without LVIS synonyms, each class has its own name: no 'hotdog'
    n, counts = pomp_mm.det.caption_tags(captions, cats, str(out))
    assert counts == {'cat': 2, 'cow': 1, 'hot dog': 0}


def test_caption_tags_refuses(tmp_path):
    captions, cats, lvis = caption_files(tmp_path)
    other = tmp_path / 'other.json'
    other.write_text(json.dumps(dict(categories=[dict(id=1,
                                                      name='unicorn')])))
    with pytest.raises(ValueError) as e:
        pomp_mm.det.caption_tags(captions, str(other), 'x.json', lvis)
    assert str(e.value) == (
        f"{other}: category 'unicorn' is not a COCO class (no LVIS synset "
        'for its synonyms); give categories with "synonyms" instead')
    with pytest.raises(ValueError) as e:
        pomp_mm.det.caption_tags(cats, cats, 'x.json')
    assert str(e.value) == (f'{cats}: expected "images" and "annotations" '
                            '(a COCO captions file)')
    with pytest.raises(SystemExit):
        pomp_mm.det.datasets.main([captions, 'x.json', '--lvis', lvis])
    assert not osp.exists('x.json')
