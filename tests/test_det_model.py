"""Unit tests of pomp_mm.det: classifier, loss, bbox head, vocabulary."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import pomp_mm.det  # noqa: F401
from mmdet.registry import MODELS
from pomp_mm.det import (PompBBoxHead, PompSigmoidCELoss,
                         PompZeroShotClassifier, get_fed_loss_inds,
                         load_class_frequency, resolve_vocabulary)


def learner_cfg(clip_weights, n_ctx=4):
    return dict(type='PompPromptLearner',
                clip=dict(type='FrozenCLIP', model_name='pomp-test-vit',
                          checkpoint=clip_weights, text_only=True),
                n_ctx=n_ctx)


@pytest.fixture(scope='module')
def clf(clip_weights):
    torch.manual_seed(0)
    return PompZeroShotClassifier(
        in_features=24, out_features=4,
        prompt_learner=learner_cfg(clip_weights),
        vocabulary=['red car', 'dog', 'traffic_light'])


def test_logits_match_independent_computation(clf):
    x = torch.randn(5, 24)
    learner = clf.prompt_learner
    assert not learner.ctx.requires_grad  # frozen by default
    text = []
    for i in range(3):  # one class at a time, full 77-token path
        text.append(learner(torch.tensor([i]), truncate=False)[0])
    text = F.normalize(torch.stack(text), dim=1)
    region = F.normalize(clf.linear(x), dim=1)
    expected = 50.0 * torch.cat([region @ text.t(),
                                 torch.zeros(5, 1)], dim=1)
    out = clf(x)
    assert out.shape == (5, 4)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
    assert torch.all(out[:, -1] == 0)


def test_buffer_not_saved_and_follows_to(clf):
    clf(torch.randn(2, 24))
    keys = clf.state_dict().keys()
    assert 'zs_weight' not in keys
    assert not any(k.startswith('prompt_learner.clip.') for k in keys)
    assert 'prompt_learner.ctx' in keys and 'linear.weight' in keys
    assert clf.zs_weight.shape == (32, 4)
    clf.double()
    try:
        assert clf.zs_weight.dtype == torch.float64
        assert clf(torch.randn(2, 24, dtype=torch.float64)).dtype == \
            torch.float64
    finally:
        clf.float()


def test_vocabulary_swap_recomputes(clf):
    w0 = clf.class_weight().clone()
    clf.set_vocabulary(['cat', 'dog'])
    try:
        w1 = clf.class_weight()
        assert w1.shape == (32, 3) and clf.num_classes == 2
        # 'dog' is column 1 before and column 1 now: same text feature
        torch.testing.assert_close(w1[:, 1], w0[:, 1])
        assert not torch.allclose(w1[:, 0], w0[:, 0])
        # a new prompt (new ctx tensor) invalidates the cache too
        old = clf.prompt_learner.ctx
        clf.prompt_learner.ctx = torch.nn.Parameter(old.detach() + 1,
                                                    requires_grad=False)
        assert not torch.allclose(clf.class_weight()[:, 0], w1[:, 0])
        clf.prompt_learner.ctx = old
    finally:
        clf.set_vocabulary(['red car', 'dog', 'traffic_light'])


def test_npy_weights(tmp_path):
    feats = np.random.RandomState(0).randn(3, 8).astype(np.float32) * 5
    path = tmp_path / 'feats.npy'
    np.save(path, feats)
    c = PompZeroShotClassifier(6, 4, zs_weight_path=str(path))
    w = c.class_weight()
    expected = F.normalize(torch.from_numpy(feats), dim=1).t()
    torch.testing.assert_close(w[:, :3], expected)
    assert torch.all(w[:, 3] == 0)
    with pytest.raises(ValueError, match='3 rows but the vocabulary has 2'):
        c.set_vocabulary(['a', 'b'])
    with pytest.raises(ValueError, match='feats.npy has 3 classes but the '
                       'bbox head has num_classes=4'):
        PompZeroShotClassifier(6, 5, zs_weight_path=str(path))
    with pytest.raises(ValueError, match='exactly one of prompt_learner'):
        PompZeroShotClassifier(6, 4)
    with pytest.raises(FileNotFoundError, match='missing.npy'):
        PompZeroShotClassifier(6, 4, zs_weight_path=str(tmp_path /
                                                         'missing.npy'))


def test_vocabulary_size_must_match_head(clip_weights):
    with pytest.raises(ValueError, match='2 classes but the bbox head has '
                       'num_classes=3'):
        PompZeroShotClassifier(8, 4, prompt_learner=learner_cfg(clip_weights),
                               vocabulary=['a', 'b'])


def test_builtin_vocabularies():
    assert len(resolve_vocabulary('coco')) == 80
    assert len(resolve_vocabulary('lvis_v1')) == 1203
    assert len(resolve_vocabulary('objects365v2')) == 365
    base = resolve_vocabulary('coco_ov_base48')
    novel = resolve_vocabulary('coco_ov_novel17')
    assert len(base) == 48 and len(novel) == 17 and not set(base) & set(novel)
    assert resolve_vocabulary('coco_ov65') == [
        c for c in resolve_vocabulary('coco') if c in set(base + novel)]
    with pytest.raises(ValueError, match='not a file nor a built-in'):
        resolve_vocabulary('cocoo')


def test_head_init_keeps_clip_and_builds_once(clip_weights):
    head = MODELS.build(dict(
        type='PompBBoxHead', in_channels=8, fc_out_channels=16,
        roi_feat_size=7, num_classes=3,
        cls_predictor_cfg=dict(type='PompZeroShotClassifier',
                               prompt_learner=learner_cfg(clip_weights),
                               vocabulary=['a', 'b', 'c'])))
    assert isinstance(head.fc_cls, PompZeroShotClassifier)
    assert head.fc_cls.in_features == 16 and head.num_classes == 3
    clip = head.fc_cls.prompt_learner.clip.model
    before = {k: v.clone() for k, v in clip.state_dict().items()}
    lin = head.fc_cls.linear.weight.clone()
    head.init_weights()
    for k, v in clip.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not torch.equal(lin, head.fc_cls.linear.weight)  # Normal init
    assert head.fc_cls.linear.weight.std() < 0.02
    head.fc_cls.set_vocabulary(['x', 'y'])
    assert head.num_classes == 2
    with pytest.raises(ValueError, match='reg_class_agnostic=False'):
        PompBBoxHead(cls_predictor_cfg=dict(type='Linear'), num_classes=3,
                     reg_class_agnostic=False)


def _manual_bce(score, labels, classes):
    """Sum over RoIs and the given classes of -log p / -log(1-p), / N."""
    total = 0.0
    for i in range(score.shape[0]):
        for c in classes:
            p = torch.sigmoid(score[i, c]).double()
            total += -torch.log(p) if labels[i] == c else -torch.log(1 - p)
    return total / score.shape[0]


def test_sigmoid_ce_loss():
    torch.manual_seed(0)
    score = torch.randn(6, 5)  # 4 classes + background
    labels = torch.tensor([0, 3, 4, 1, 4, 0])  # 4 = background
    loss = PompSigmoidCELoss()(score, labels)
    torch.testing.assert_close(loss.double(),
                               _manual_bce(score, labels, range(4)),
                               rtol=1e-5, atol=1e-6)
    head_loss = PompSigmoidCELoss()
    assert head_loss.get_cls_channels(4) == 5
    torch.testing.assert_close(head_loss.get_activation(score),
                               torch.sigmoid(score))
    acc = head_loss.get_accuracy(score, labels)['acc_fg']
    fg = labels < 4
    manual = (score[fg, :4].argmax(1) == labels[fg]).float().mean() * 100
    torch.testing.assert_close(acc, manual)


def _lvis_cats(counts):
    return [dict(id=i + 1, name=f'c{i}', frequency='f', image_count=n)
            for i, n in enumerate(counts)]


def test_federated_loss(tmp_path):
    counts = [100, 0, 4, 9, 25, 0, 1, 16]
    path = tmp_path / 'lvis.json'
    path.write_text(json.dumps(dict(images=[], annotations=[],
                                    categories=_lvis_cats(counts)[::-1])))
    freq = load_class_frequency(str(path))
    torch.testing.assert_close(freq, torch.tensor(counts).float().sqrt())
    labels = torch.tensor([2, 2, 8, 8])  # 8 = background
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        inds = get_fed_loss_inds(labels, 4, 8, freq, generator=g)
        assert len(inds) == 4 and 2 in inds.tolist()
        assert not {1, 5} & set(inds.tolist())  # zero weight: never drawn
    loss_fn = PompSigmoidCELoss(use_fed_loss=True, cat_freq_path=str(path),
                                fed_loss_num_cat=4)
    score = torch.randn(4, 9)
    torch.manual_seed(3)
    loss = loss_fn(score, labels)
    torch.manual_seed(3)
    inds = get_fed_loss_inds(labels, 4, 8, freq)
    classes = [c for c in inds.tolist() if c < 8]
    torch.testing.assert_close(loss.double(),
                               _manual_bce(score, labels, classes),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='8 categories but the classifier '
                       'scores 3'):
        loss_fn(torch.randn(2, 4), torch.tensor([0, 3]))
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(dict(categories=[dict(id=1, name='a')])))
    with pytest.raises(ValueError, match='category id 1 has no "image_count"'):
        load_class_frequency(str(bad))


def test_federated_loss_takes_all_left_without_rng():
    # 6 classes of positive weight (0 and 5 have none); asking for more
    # than there are takes every one of them, and the global RNG is left
    # as it was (a mini-world box image trains exactly its seen columns)
    freq = torch.tensor([0., 1., 4., 9., 1., 0., 2., 3.])
    labels = torch.tensor([3, 8, 8])  # 8 = background
    state = torch.get_rng_state()
    inds = get_fed_loss_inds(labels, 8, 8, freq)
    assert torch.equal(torch.get_rng_state(), state)
    assert sorted(inds.tolist()) == [1, 2, 3, 4, 6, 7, 8]  # 8: as present
    # one fewer than there are: a draw (RNG used), never a zero-weight class
    inds = get_fed_loss_inds(labels, 6, 8, freq)
    assert not torch.equal(torch.get_rng_state(), state)
    assert len(inds) == 6 and {3, 8} <= set(inds.tolist())
    assert not {0, 5} & set(inds.tolist())


def test_image_label_loss():
    head = PompBBoxHead(cls_predictor_cfg=dict(type='Linear'), num_classes=4,
                        in_channels=4, fc_out_channels=8, roi_feat_size=2,
                        image_loss_weight=0.5)
    score = torch.randn(2, 5)
    out = head.image_label_loss(score, [torch.tensor([1, 3]),
                                        torch.tensor([0])])['loss_image']
    per_image = []
    for s, labels in ((score[0], [1, 3]), (score[1], [0])):
        per_label = [_manual_bce(s[None], torch.tensor([c]), range(4))
                     for c in labels]
        per_image.append(sum(per_label) / len(per_label))
    torch.testing.assert_close(out.double(), 0.5 * sum(per_image) / 2,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='out of range for 4 classes'):
        head.image_label_loss(score[:1], [torch.tensor([4])])


def test_image_label_dataset(tmp_path):
    from pomp_mm.det import ImageLabelDataset
    cats = [dict(id=10, name='dog'), dict(id=20, name='cat'),
            dict(id=30, name='zebra')]
    images = [dict(id=1, file_name='a.jpg', width=64, height=64,
                   pos_category_ids=[30, 10]),
              dict(id=2, file_name='b.jpg', width=64, height=64,
                   pos_category_ids=[99]),  # unknown: dropped
              dict(id=3, file_name='c.jpg', width=16, height=64,
                   pos_category_ids=[20])]  # too small: dropped
    ann = tmp_path / 'image_info.json'
    ann.write_text(json.dumps(dict(images=images, categories=cats)))
    ds = ImageLabelDataset(ann_file=str(ann), data_root=str(tmp_path),
                           metainfo=dict(classes=('dog', 'cat', 'zebra')),
                           filter_cfg=dict(min_size=32), pipeline=[],
                           data_prefix=dict(img=''))
    assert len(ds) == 1
    info = ds.get_data_info(0)
    assert info['image_labels'] == [0, 2] and info['instances'] == []
    del images[0]['pos_category_ids']
    ann.write_text(json.dumps(dict(images=images, categories=cats)))
    with pytest.raises(ValueError, match='image id 1 has no '
                       '"pos_category_ids"'):
        ImageLabelDataset(ann_file=str(ann), pipeline=[],
                          data_prefix=dict(img=''),
                          metainfo=dict(classes=('cat', 'dog')))


def test_remove_rare(tmp_path):
    from pomp_mm.det import remove_rare
    cats = [dict(id=1, name='a', frequency='r'),
            dict(id=2, name='b', frequency='f')]
    anns = [dict(id=i, image_id=1, category_id=1 + i % 2, bbox=[0, 0, 1, 1])
            for i in range(5)]
    src = tmp_path / 'lvis.json'
    src.write_text(json.dumps(dict(images=[dict(id=1)], annotations=anns,
                                   categories=cats)))
    out = tmp_path / 'norare.json'
    assert remove_rare(str(src), str(out)) == 3
    data = json.loads(out.read_text())
    assert [a['id'] for a in data['annotations']] == [1, 3]
    assert data['categories'] == cats and data['images'] == [dict(id=1)]
    del cats[0]['frequency']
    src.write_text(json.dumps(dict(annotations=[], categories=cats)))
    with pytest.raises(ValueError, match='"frequency" field'):
        remove_rare(str(src), str(out))


def test_logit_bias_only_for_negative_use_bias(tmp_path):
    """Detic's USE_BIAS: a negative value is the initial learnable bias,
    0 is none; a positive one (silently no bias in Detic) is an error."""
    path = tmp_path / 'feats.npy'
    np.save(path, np.random.RandomState(0).randn(3, 8).astype(np.float32))
    x = torch.randn(5, 6)
    plain = PompZeroShotClassifier(6, 4, zs_weight_path=str(path))
    biased = PompZeroShotClassifier(6, 4, zs_weight_path=str(path),
                                    use_bias=-4.6)
    biased.linear.load_state_dict(plain.linear.state_dict())
    assert not hasattr(plain, 'cls_bias')
    assert biased.cls_bias.requires_grad
    torch.testing.assert_close(biased(x), plain(x) - 4.6)
    with pytest.raises(ValueError) as e:
        PompZeroShotClassifier(6, 4, zs_weight_path=str(path), use_bias=4.6)
    assert str(e.value) == (
        'PompZeroShotClassifier: use_bias=4.6; Detic turns the logit bias on '
        'only for a negative initial value; expected a negative number such '
        'as -4.6, or 0 for no bias')
