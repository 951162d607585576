"""pomp_mm.core.templates: the one hand-template ensemble, against a
computation by hand from the text tower, and its refusals."""
import pytest
import torch
import torch.nn.functional as F

from pomp_mm.core.templates import template_features

NAMES = ['red_heart', 'blue star', 'green striped circle']
TEMPLATES = ['a photo of a {}.', 'a sketch of the {}.', 'itap of a {}']


@torch.no_grad()
def _encode(clip, texts):
    return clip.model.encode_text(clip.tokenizer(texts)).float()


def _by_hand(clip, templates):
    clean = [n.replace('_', ' ') for n in NAMES]
    mean = sum(F.normalize(_encode(clip, [t.format(n) for n in clean]),
                           dim=-1) for t in templates) / len(templates)
    return F.normalize(mean, dim=-1)


@pytest.mark.parametrize('n_templates', [1, 3])
def test_ensemble_equals_clip_recipe(tiny_clip, n_templates):
    templates = TEMPLATES[:n_templates]
    got = template_features(tiny_clip, NAMES, templates, batch_size=2)
    assert got.shape == (3, tiny_clip.model.text_projection.shape[1])
    # fp32, same ops in the same order up to the batching of classes
    torch.testing.assert_close(got, _by_hand(tiny_clip, templates),
                               rtol=1e-5, atol=1e-6)


def test_raw_single_template(tiny_clip):
    got = template_features(tiny_clip, NAMES, TEMPLATES[:1], batch_size=2,
                            normalize=False)
    want = _encode(tiny_clip, [TEMPLATES[0].format(n.replace('_', ' '))
                               for n in NAMES])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(got.norm(dim=-1), torch.ones(3), atol=1e-2)


def test_refusals(tiny_clip):
    with pytest.raises(ValueError, match='normalize=False needs one '
                       'template, got 2'):
        template_features(tiny_clip, NAMES, TEMPLATES[:2], normalize=False)
    with pytest.raises(ValueError, match='no template'):
        template_features(tiny_clip, NAMES, [])
    long = " ".join(["star"] * 80)  # + "a photo of a", ".", SOT, EOT: 87
    with pytest.raises(ValueError, match=r"with template 'a photo of a "
                       r"\{\}\.' is 87 tokens, more than CLIP's 77-token "
                       'context; shorten the name'):
        template_features(tiny_clip, NAMES + [long], TEMPLATES[:1])


def test_length_check_tokenises_only_texts_that_may_not_fit(tiny_clip,
                                                            monkeypatch):
    """ASCII texts of <= 75 characters fit CLIP's 77 tokens (a BPE token is
    at least one character); only the others are tokenised by the check,
    and each of them is checked exactly."""
    from pomp_mm.core import templates as mod
    seen = []
    tok = tiny_clip.tokenizer

    class Counting:
        def __call__(self, texts):
            seen.extend(texts)
            return tok(texts)

        def encode(self, text):
            return tok.encode(text)

    monkeypatch.setattr(mod, 'SimpleTokenizer', Counting)
    clip = type('C', (), dict(tokenizer=Counting(),
                              context_length=tiny_clip.context_length))()
    fits = 'x' * 60                  # ASCII, short: never tokenised
    long_fits = ' '.join(['ab'] * 30)  # 89 chars but 30 + 5 tokens
    accented = 'café ' * 3           # non-ASCII: tokenised, fits
    mod.check_template_lengths(clip, [fits, long_fits, accented],
                               ['a photo of a {}.'])
    assert seen == [f'a photo of a {long_fits}.',
                    f'a photo of a {accented}.']
    too_long = ' '.join(['ab'] * 80)
    with pytest.raises(ValueError, match='is 83 tokens'):
        mod.check_template_lengths(clip, [fits, too_long], ['{}.'])
