"""Hand-template CLIP zero-shot and vocabularies with repeated names."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

import pomp_mm.cls  # noqa: F401
from pomp_mm.cls.zeroshot import TEMPLATE_SETS, resolve_templates

NAMES = ['red circle', 'blue_square', 'green star']


def test_template_sets_are_open_clips():
    assert len(TEMPLATE_SETS['openai_imagenet']) == 80
    assert TEMPLATE_SETS['openai_imagenet'] == [
        fn('{}') for fn in OPENAI_IMAGENET_TEMPLATES
    ]
    assert resolve_templates('a photo of a {}, a type of pet.') == [
        'a photo of a {}, a type of pet.'
    ]
    assert resolve_templates(['{} texture.',
                              'art of {}']) == ['{} texture.', 'art of {}']


@pytest.mark.parametrize(
    'bad', ['openai_imagent', 'a photo of {} {}', ['{name} photo'], []])
def test_bad_templates_are_one_line(bad):
    with pytest.raises(ValueError) as e:
        resolve_templates(bad)
    assert '\n' not in str(e.value)


def test_ensemble_weights_and_cache(tiny_clip):
    templates = ['a photo of a {}.', 'art of the {}.', '{} texture.']
    model = MODELS.build(
        dict(type='TemplateCLIPClassifier',
             clip=tiny_clip,
             templates=templates,
             vocabulary=NAMES,
             text_batch_size=2))
    images = torch.randn(4, 3, 32, 32)
    logits = model(images, mode='tensor')
    # independent: per template normalise, average, renormalise
    tok = tiny_clip.tokenizer
    with torch.no_grad():
        feats = torch.stack([
            F.normalize(tiny_clip.encode_text(tok(
                [t.format(n.replace('_', ' ')) for n in NAMES]),
                                              normalize=True),
                        dim=-1) for t in templates
        ]).mean(0)
        want = tiny_clip.logit_scale * tiny_clip.encode_image(
            images, normalize=True) @ F.normalize(feats, dim=-1).t()
    torch.testing.assert_close(logits, want, rtol=1e-4, atol=1e-4)
    cached = model.text_classifier
    out = model(images, [DataSample() for _ in range(4)], mode='predict')
    assert model.text_classifier is cached
    assert out[0].pred_score.shape == (3, )
    assert 'text_classifier' not in model.state_dict()
    model.set_vocabulary(NAMES[:2])
    assert model(images, mode='tensor').shape == (4, 2)
    with pytest.raises(RuntimeError, match='zero-shot classifier'):
        model(images, [DataSample().set_gt_label(0)] * 4, mode='loss')


def test_repeated_names_share_a_prompt(tiny_clip):
    """CLIP's ImageNet names repeat ('missile', 'sunglasses')."""
    names = ['missile', 'tench', 'missile', 'goldfish']
    model = MODELS.build(
        dict(type='PromptCLIPClassifier',
             prompt_learner=dict(type='PompPromptLearner',
                                 clip=tiny_clip,
                                 n_ctx=4),
             loss=dict(type='PompLoss', num_classes_per_step=None, seed=0),
             train_vocabulary=names,
             test_vocabulary=names))
    images = torch.randn(2, 3, 32, 32)
    logits = model(images, mode='tensor')
    assert logits.shape == (2, 4)
    torch.testing.assert_close(logits[:, 0], logits[:, 2])
    assert model.prompt_learner.class_names == ['missile', 'tench', 'goldfish']
    # training maps class 2 onto the shared 'missile' prompt (index 0)
    samples = [DataSample().set_gt_label(2), DataSample().set_gt_label(3)]
    loss = model(images, samples, mode='loss')['loss']
    text = F.normalize(model.prompt_learner(), dim=-1)
    f = tiny_clip.encode_image(images, normalize=True)
    want = F.cross_entropy(tiny_clip.logit_scale * f @ text.t(),
                           torch.tensor([0, 2]))
    torch.testing.assert_close(loss, want, rtol=1e-5, atol=1e-5)
