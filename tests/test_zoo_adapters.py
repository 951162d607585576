"""Zoo feature adapters: CLIP-Adapter, Tip-Adapter(-F), WiSE-FT.

Each method's defining computation is checked against a hand computation
(open_clip's own encoders and plain tensor maths), then every config trains
and tests through tools/train.py and tools/test.py on a tiny mini-world.
"""
import copy
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from pomp_mm.cls.zoo import (
    CLIPAdapterClassifier,
    TipAdapterClassifier,
    WiSEFTClassifier,
)
from pomp_mm.core import save_prompt
from pomp_mm.core.checkpoint import safe_torch_load
from pomp_mm.engine import test as engine_test
from pomp_mm.engine import train as engine_train

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
NAMES = ['red circle', 'blue square', 'green star', 'black heart']


def _images(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g)


def _text_classifier(clip, names):
    """Hand template features, by hand: 'a photo of a {}.', normalised."""
    tokens = clip.tokenizer([f'a photo of a {n}.' for n in names])
    with torch.no_grad():
        return F.normalize(clip.model.encode_text(tokens), dim=-1)


def _image_features(clip, images):
    with torch.no_grad():
        return clip.model.encode_image(images)


def _scale(clip):
    return clip.model.logit_scale.exp().item()


def _clip_state(clip):
    return {k: v.clone() for k, v in clip.model.state_dict().items()}


def _unchanged(clip, before):
    after = clip.model.state_dict()
    return all(torch.equal(before[k], after[k]) for k in before)


def _samples(labels):
    return [DataSample().set_gt_label(int(lab)) for lab in labels]


# -- CLIP-Adapter ---------------------------------------------------------------
@pytest.mark.parametrize('alpha,reduction', [(0.2, 4), (0.6, 2)])
def test_clip_adapter_matches_hand_mlp(tiny_clip, alpha, reduction):
    torch.manual_seed(1)
    model = CLIPAdapterClassifier(tiny_clip, alpha=alpha, reduction=reduction,
                                  vocabulary=NAMES)
    w1 = model.adapter[0].weight.detach()  # (D/r, D)
    w2 = model.adapter[2].weight.detach()  # (D, D/r)
    assert w1.shape == (32 // reduction, 32) and model.adapter[0].bias is None
    images = _images()
    f = _image_features(tiny_clip, images)
    hidden = torch.clamp(f @ w1.t(), min=0)
    adapted = torch.clamp(hidden @ w2.t(), min=0)
    mixed = alpha * adapted + (1 - alpha) * f
    text = _text_classifier(tiny_clip, NAMES)
    expected = _scale(tiny_clip) * F.normalize(mixed, dim=-1) @ text.t()
    with torch.no_grad():
        got = model.logits(images)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_clip_adapter_loss_trains_only_the_adapter(tiny_clip):
    torch.manual_seed(2)
    model = CLIPAdapterClassifier(tiny_clip, vocabulary=['a', 'b'],
                                  train_vocabulary=NAMES)
    images, labels = _images(4), torch.tensor([0, 3, 1, 2])
    before = _clip_state(tiny_clip)
    adapter = copy.deepcopy(model.adapter.state_dict())
    loss = model(images, _samples(labels), mode='loss')['loss']
    # cross-entropy over the *training* vocabulary, by hand
    f = _image_features(tiny_clip, images)
    a = model.adapter(f)
    mixed = F.normalize(0.2 * a + 0.8 * f, dim=-1)
    logits = _scale(tiny_clip) * mixed @ _text_classifier(tiny_clip,
                                                          NAMES).t()
    assert loss.item() == pytest.approx(
        F.cross_entropy(logits, labels).item(), rel=1e-5)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ['adapter.0.weight', 'adapter.2.weight']
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                          lr=0.5)
    loss.backward()
    opt.step()
    assert _unchanged(tiny_clip, before)
    assert not torch.equal(adapter['0.weight'], model.adapter[0].weight)
    # the test vocabulary is still the one used for prediction
    assert model(images, mode='tensor').shape == (4, 2)


@pytest.mark.parametrize('kwargs,match', [
    ({'alpha': 1.5}, 'alpha=1.5'),
    ({'reduction': 0}, 'reduction=0'),
])
def test_clip_adapter_bad_arguments(tiny_clip, kwargs, match):
    with pytest.raises(ValueError, match=match):
        CLIPAdapterClassifier(tiny_clip, **kwargs)


# -- Tip-Adapter ------------------------------------------------------------------
def _cache(tiny_clip, seed=3):
    g = torch.Generator().manual_seed(seed)
    keys = F.normalize(torch.randn(7, 32, generator=g), dim=-1)
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 1])  # classes of NAMES[:3]
    return keys, labels


@pytest.mark.parametrize('alpha,beta', [(1.0, 5.5), (2.5, 1.0)])
def test_tip_adapter_logits_match_the_formula(tiny_clip, alpha, beta):
    keys, labels = _cache(tiny_clip)
    # test classes: two cached (in another order) and one novel class
    test_names = ['green star', 'purple cross', 'red circle']
    model = TipAdapterClassifier(tiny_clip, alpha=alpha, beta=beta,
                                 vocabulary=test_names)
    model.set_cache(keys, labels, NAMES[:3])
    images = _images()
    f = F.normalize(_image_features(tiny_clip, images), dim=-1)
    clip_logits = _scale(tiny_clip) * f @ _text_classifier(
        tiny_clip, test_names).t()
    expected = clip_logits.clone()
    for b in range(len(images)):
        for c, name in enumerate(test_names):
            total = 0.0
            for n in range(len(keys)):
                if NAMES[int(labels[n])] == name:
                    total += math.exp(-beta * (1 - float(f[b] @ keys[n])))
            expected[b, c] += alpha * total
    with torch.no_grad():
        got = model.logits(images)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    # the novel class has no cache term: its logit is CLIP's
    torch.testing.assert_close(got[:, 1], clip_logits[:, 1])


def test_tip_adapter_cache_averages_augmented_epochs(tiny_clip):
    model = TipAdapterClassifier(tiny_clip)
    passes = [_images(4, seed=s) for s in (10, 11)]
    labels = [0, 1, 1, 0]

    class Epochs:
        """A different augmentation of the same 4 images each pass."""

        def __init__(self):
            self.count = 0

        def __iter__(self):
            images = passes[self.count]
            self.count += 1
            for i in (0, 2):  # two batches of two
                yield {'inputs': [images[i:i + 2]],
                           'data_samples': _samples(labels[i:i + 2])}

    model.data_preprocessor = torch.nn.Identity()  # inputs are ready
    model.data_preprocessor.forward = lambda data, training=False: data
    model.build_cache(Epochs(), ['x', 'y'], augment_epochs=2)
    raw = [_image_features(tiny_clip, p) for p in passes]
    torch.testing.assert_close(model.cache_keys.detach(),
                               F.normalize((raw[0] + raw[1]) / 2, dim=-1),
                               rtol=1e-5, atol=1e-5)
    assert model.cache_labels.tolist() == labels
    assert model.cache_classes == ['x', 'y']

    class Shuffled(Epochs):
        def __iter__(self):
            order = (0, 2) if self.count == 0 else (2, 0)
            self.count += 1
            for i in order:
                yield {'inputs': [passes[0][i:i + 2]],
                           'data_samples': _samples(
                               [labels[i], 1 - labels[i + 1]])}

    with pytest.raises(ValueError, match='must not shuffle'):
        model.build_cache(Shuffled(), ['x', 'y'], augment_epochs=2)


def test_tip_adapter_checkpoint_round_trip_and_errors(tiny_clip):
    keys, labels = _cache(tiny_clip)
    model = TipAdapterClassifier(tiny_clip, vocabulary=NAMES)
    with pytest.raises(RuntimeError, match='the cache is empty.*'
                       'TipAdapterCacheHook'):
        model.logits(_images())
    with pytest.raises(RuntimeError, match='training-free'):
        model(_images(2), _samples([0, 1]), mode='loss')
    model.set_cache(keys, labels, NAMES[:3])
    state = model.state_dict()
    assert state['_extra_state'] == {'cache_classes': NAMES[:3]}
    fresh = TipAdapterClassifier(tiny_clip, vocabulary=NAMES)
    assert not fresh.has_cache
    fresh.load_state_dict(state)
    assert fresh.has_cache and fresh.cache_classes == NAMES[:3]
    with torch.no_grad():
        torch.testing.assert_close(fresh.logits(_images()),
                                   model.logits(_images()))
    with pytest.raises(ValueError, match=r'cache labels must lie in \[0, 2\)'):
        model.set_cache(keys, labels, NAMES[:2])
    with pytest.raises(ValueError, match=r'expected \(N, 32\)'):
        model.set_cache(keys[:, :8], labels, NAMES)


def test_tip_adapter_f_trains_only_the_keys(tiny_clip):
    keys, labels = _cache(tiny_clip)
    model = TipAdapterClassifier(tiny_clip, learnable_keys=True,
                                 vocabulary=NAMES, train_vocabulary=NAMES[:3])
    # built empty, as the runner sees it when it builds the optimizer
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model.set_cache(keys, labels, NAMES[:3])
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ['cache_keys']
    before = _clip_state(tiny_clip)
    loss = model(_images(4), _samples([0, 1, 2, 1]), mode='loss')['loss']
    loss.backward()
    opt.step()
    assert _unchanged(tiny_clip, before)
    assert not torch.allclose(model.cache_keys.detach(), keys)
    assert torch.equal(model.cache_labels, labels)


# -- WiSE-FT ----------------------------------------------------------------------
def _fine_tuned(tiny_clip, seed=4):
    """A WiSE-FT model whose tower and head moved away from zero-shot."""
    torch.manual_seed(seed)
    model = WiSEFTClassifier(tiny_clip, vocabulary=NAMES,
                             train_vocabulary=NAMES[:2])
    with torch.no_grad():
        for p in model.visual_ft.parameters():
            p.add_(0.05 * torch.randn_like(p))
        model.head_ft.add_(torch.randn_like(model.head_ft))
    return model


def test_wise_ft_interpolated_state_dict_is_the_hand_mix(tiny_clip):
    model = _fine_tuned(tiny_clip)
    zero_shot = tiny_clip.model.visual.state_dict()
    tuned = model.visual_ft.state_dict()
    for alpha in (0.0, 0.3, 1.0):
        mixed = model.interpolate(alpha)
        assert set(mixed) == set(tuned)
        for k in tuned:
            hand = (1 - alpha) * zero_shot[k] + alpha * tuned[k]
            torch.testing.assert_close(mixed[k], hand, rtol=1e-6, atol=1e-6)


def test_wise_ft_logits_at_alpha_0_half_and_1(tiny_clip):
    model = _fine_tuned(tiny_clip)
    images = _images()
    text = _text_classifier(tiny_clip, NAMES)
    scale = _scale(tiny_clip)
    zero_shot_head = scale * text
    tuned_head = zero_shot_head.clone()
    tuned_head[:2] = model.head_ft.detach()  # trained rows; others zero-shot

    def hand(alpha):
        tower = copy.deepcopy(tiny_clip.model.visual)
        ft = model.visual_ft.state_dict()
        tower.load_state_dict({
            k: (1 - alpha) * v + alpha * ft[k]
            for k, v in tiny_clip.model.visual.state_dict().items()
        })
        with torch.no_grad():
            f = F.normalize(tower(images), dim=-1)
        return f @ ((1 - alpha) * zero_shot_head + alpha * tuned_head).t()

    for alpha in (0.0, 0.5, 1.0):
        model.alpha = alpha
        with torch.no_grad():
            got = model.logits(images)
        torch.testing.assert_close(got, hand(alpha), rtol=1e-4, atol=1e-4)
    # alpha=0 is exactly zero-shot CLIP with the hand template
    model.alpha = 0.0
    f = F.normalize(_image_features(tiny_clip, images), dim=-1)
    with torch.no_grad():
        torch.testing.assert_close(model.logits(images),
                                   scale * f @ text.t(), rtol=1e-5,
                                   atol=1e-5)
    with pytest.raises(ValueError, match='alpha=1.2'):
        model.alpha = 1.2


def test_wise_ft_trains_tower_and_head_not_clip(tiny_clip):
    torch.manual_seed(5)
    model = WiSEFTClassifier(tiny_clip, vocabulary=NAMES)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                          lr=0.1)
    assert model.head_ft.shape == (0, 32)  # shaped by the training classes
    model.set_vocabulary(NAMES[1:], 'train')
    scale = _scale(tiny_clip)
    torch.testing.assert_close(model.head_ft.detach(),
                               scale * _text_classifier(tiny_clip, NAMES[1:]))
    assert model.head_classes == NAMES[1:]
    before = _clip_state(tiny_clip)
    tower = copy.deepcopy(model.visual_ft.state_dict())
    head = model.head_ft.detach().clone()
    loss = model(_images(3), _samples([0, 2, 1]), mode='loss')['loss']
    loss.backward()
    opt.step()
    assert _unchanged(tiny_clip, before)
    assert not torch.equal(head, model.head_ft)
    assert any(not torch.equal(v, model.visual_ft.state_dict()[k])
               for k, v in tower.items())
    # round trip: the head's classes travel in the state dict
    fresh = WiSEFTClassifier(tiny_clip, vocabulary=NAMES)
    fresh.load_state_dict(model.state_dict())
    assert fresh.head_classes == NAMES[1:]
    with torch.no_grad():
        torch.testing.assert_close(fresh.logits(_images()),
                                   model.logits(_images()))


def test_wise_ft_without_head_training_keeps_zero_shot_head(tiny_clip):
    model = WiSEFTClassifier(tiny_clip, train_head=False, vocabulary=NAMES,
                             train_vocabulary=NAMES)
    assert model.head_ft is None
    torch.testing.assert_close(
        model.head('test', 0.7),
        _scale(tiny_clip) * _text_classifier(tiny_clip, NAMES))


# -- every config through tools/train.py and tools/test.py ---------------------------
def _tiny(clip_weights, prefix='model.clip', epochs=1):
    """A 4-class, 32-px mini-world run with the random tiny CLIP."""
    opts = [f'{prefix}.model_name=pomp-test-vit',
            f'{prefix}.checkpoint={clip_weights}', 'log_level=WARNING',
            'train_dataloader.batch_size=4', 'test_dataloader.batch_size=8',
            'val_dataloader.batch_size=8',
            'train_dataloader.dataset.pipeline.0.scale=32',
            f'train_cfg.max_epochs={epochs}',
            f'train_cfg.val_interval={max(epochs, 1)}']
    for loader, n in (('train', 2), ('val', 1), ('test', 2)):
        opts += [f'{loader}_dataloader.dataset.max_classes=4',
                 f'{loader}_dataloader.dataset.images_per_class={n}',
                 f'{loader}_dataloader.dataset.image_size=32']
    return opts


@pytest.mark.slow
@pytest.mark.parametrize('method,extra,checkpoint', [
    ('clip_adapter', [], 'epoch_1.pth'),
    ('tip_adapter', ['custom_hooks.0.augment_epochs=2',
                     'train_cfg.max_epochs=0'], 'epoch_0.pth'),
    ('tip_adapter_f', ['custom_hooks.0.augment_epochs=1'], 'epoch_1.pth'),
    ('wise_ft', [], 'epoch_1.pth'),
    ('linear_probe', ['model.head.num_classes=4',
                      'model.head.in_channels=32'], 'epoch_1.pth'),
])
def test_config_trains_and_tests(tmp_path, clip_weights, method, extra,
                                 checkpoint):
    config = osp.join(ROOT, 'configs', 'zoo', method, 'miniworld_b2n.py')
    prefix = 'model.backbone.clip' if method == 'linear_probe' else \
        'model.clip'
    opts = _tiny(clip_weights, prefix) + extra
    work = tmp_path / 'work'
    engine_train.main([config, '--work-dir', str(work),
                             '--cfg-options', *opts])
    ckpt = work / checkpoint
    assert ckpt.is_file()
    assert (work / 'last_checkpoint').read_text().strip().endswith(
        checkpoint)
    state = safe_torch_load(ckpt)
    assert not any(k.startswith(('clip.', '_clip.', 'backbone.clip.'))
                   for k in state['state_dict']), 'frozen CLIP was saved'
    test = engine_test
    for subset in ('seen', 'unseen'):
        metrics = test.main([
            config, str(ckpt), '--work-dir', str(tmp_path / 'test'),
            '--cfg-options', *opts,
            f'test_dataloader.dataset.subset={subset}'])
        assert 0 <= metrics['accuracy/top1'] <= 100
    if method == 'tip_adapter':
        assert state['state_dict']['cache_keys'].shape == (8, 32)
        assert state['state_dict']['_extra_state']['cache_classes']
        # without a checkpoint, the test run builds the cache itself
        metrics = test.main([config, '--work-dir', str(tmp_path / 't2'),
                             '--cfg-options', *opts])
        assert 0 <= metrics['accuracy/top1'] <= 100


@pytest.mark.slow
def test_zero_shot_configs_test_through_tools(tmp_path, clip_weights):
    prompt = str(tmp_path / 'prompt.pth')
    save_prompt(prompt, torch.randn(4, 32) * 0.02)
    test = engine_test
    for name, prefix in (('miniworld_b2n.py', 'model.clip'),
                         ('miniworld_b2n_pomp.py',
                          'model.prompt_learner.clip')):
        config = osp.join(ROOT, 'configs', 'zoo', 'zeroshot', name)
        opts = _tiny(clip_weights, prefix)
        if 'pomp' in name:
            opts.append(f'model.prompt_learner.prompt_checkpoint={prompt}')
        metrics = test.main([config, '--work-dir', str(tmp_path / name),
                             '--cfg-options', *opts])
        assert 0 <= metrics['accuracy/top1'] <= 100
