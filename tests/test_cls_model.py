"""PromptCLIPClassifier: POMP/CoOp loss, gradients, zero-shot predict."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

import pomp_mm.cls  # noqa: F401
from mmpretrain.registry import MODELS

NAMES = [f'{c} {s}' for c in ('red', 'blue', 'green')
         for s in ('circle', 'square', 'star')]


def _model(k=None, correction=False):
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='PromptCLIPClassifier',
        prompt_learner=dict(type='PompPromptLearner',
                            clip=dict(type='FrozenCLIP',
                                      model_name='pomp-test-vit'),
                            n_ctx=4),
        loss=dict(type='PompLoss', num_classes_per_step=k,
                  correction=correction, seed=0),
        train_vocabulary=NAMES, test_vocabulary=NAMES[:5]))


def _batch(n=4, views=2):
    labels = torch.tensor([0, 3, 3, 8])[:n]
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    views = [torch.randn(n, 3, 32, 32) for _ in range(views)]
    return views, samples, labels


def test_full_vocabulary_equals_coop_softmax():
    model = _model(k=None)
    views, samples, labels = _batch()
    loss = model(views, samples, mode='loss')['loss']
    # independent CoOp computation: all classes, plain 77-token path
    images = torch.cat(views)
    f = model.clip.encode_image(images, normalize=True)
    t = F.normalize(model.prompt_learner(truncate=False), dim=-1)
    want = F.cross_entropy(model.clip.logit_scale * f @ t.t(),
                           labels.repeat(2))
    torch.testing.assert_close(loss, want, rtol=1e-5, atol=1e-5)


def test_only_ctx_gets_gradients():
    model = _model(k=4, correction=True)
    views, samples, _ = _batch()
    model(views, samples, mode='loss')['loss'].backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert grads == {'prompt_learner.ctx'}
    assert model.prompt_learner.ctx.grad.abs().sum() > 0
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {'prompt_learner.ctx'}


def test_sampled_loss_uses_k_classes():
    model = _model(k=4, correction=True)
    views, samples, labels = _batch()
    seen = []
    orig = model.prompt_learner.forward

    def spy(idx=None, **kw):
        seen.append(idx.clone())
        return orig(idx, **kw)
    model.prompt_learner.forward = spy
    model(views, samples, mode='loss')
    # unique(labels ∪ 3 negatives): each distinct class encoded once
    assert len(seen) == 1 and len(seen[0]) <= 3 + 3
    assert len(seen[0]) == len(seen[0].unique())


def test_predict_and_text_cache():
    model = _model().eval()
    images = torch.randn(3, 3, 32, 32)
    out = model(images, [DataSample() for _ in range(3)], mode='predict')
    assert out[0].pred_score.shape == (5,)
    want = (model.clip.logit_scale * model.clip.encode_image(
        images, normalize=True) @ F.normalize(
            model.prompt_learner(), dim=-1).t()).softmax(-1)
    torch.testing.assert_close(torch.stack([o.pred_score for o in out]),
                               want, rtol=1e-5, atol=1e-6)
    cached = model.text_classifier
    model(images, mode='tensor')
    assert model.text_classifier is cached  # not recomputed
    with torch.no_grad():
        model.prompt_learner.ctx.add_(1.0)  # a training step changes ctx
    model(images, mode='tensor')
    assert model.text_classifier is not cached
    assert 'text_classifier' not in model.state_dict()


def test_wrong_image_size_is_one_clear_error():
    model = _model()
    with pytest.raises(ValueError, match=r'expects \(32, 32\)'):
        model(torch.randn(1, 3, 64, 64), mode='tensor')


def test_state_dict_is_prompt_and_sampler_only(tmp_path):
    from pomp_mm.core import FrozenCLIP
    path = tmp_path / 'clip.pt'
    torch.save(FrozenCLIP('pomp-test-vit').model.state_dict(), path)
    model = MODELS.build(dict(
        type='PromptCLIPClassifier',
        prompt_learner=dict(type='PompPromptLearner', n_ctx=4,
                            clip=dict(type='FrozenCLIP',
                                      model_name='pomp-test-vit',
                                      checkpoint=str(path)))))
    assert set(model.state_dict()) == {'prompt_learner.ctx',
                                       'loss_module._extra_state'}


@pytest.mark.parametrize('merge', [True, False])
def test_repeated_names_merged_or_kept_as_official(merge):
    """Classes 0 and 2 share the name 'red circle'. Merged: one class, a
    2-way softmax. Official (``merge_repeated_names=False``): all 3 stay,
    so the namesake is a negative with the positive's own features."""
    torch.manual_seed(0)
    names = ['red circle', 'blue square', 'red_circle']
    model = MODELS.build(dict(
        type='PromptCLIPClassifier',
        prompt_learner=dict(type='PompPromptLearner',
                            clip=dict(type='FrozenCLIP',
                                      model_name='pomp-test-vit'),
                            n_ctx=4),
        loss=dict(type='PompLoss', num_classes_per_step=None, seed=0),
        train_vocabulary=names, merge_repeated_names=merge))
    labels = torch.tensor([0, 1, 2])
    samples = [DataSample().set_gt_label(int(y)) for y in labels]
    views = [torch.randn(3, 3, 32, 32)]
    loss = model(views, samples, mode='loss')['loss']
    # independent: the two distinct prompts on the plain 77-token path
    f = model.clip.encode_image(views[0], normalize=True)
    t = F.normalize(model.prompt_learner(truncate=False), dim=-1)
    assert model.prompt_learner.class_names == names[:2]
    s = model.clip.logit_scale * f @ t.t()  # (3, 2): cat, dog
    if merge:
        want = F.cross_entropy(s, torch.tensor([0, 1, 0]))
    else:
        want = F.cross_entropy(s[:, [0, 1, 0]], labels)
    torch.testing.assert_close(loss, want, rtol=1e-5, atol=1e-5)
