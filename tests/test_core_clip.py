"""FrozenCLIP: weight formats, freezing, the embedding entry point."""
import open_clip
import pytest
import torch
import torch.nn as nn

from pomp_mm.core import FrozenCLIP, read_clip_state_dict


def _reference(model_name, state_dict, quick_gelu=False):
    model = open_clip.create_model(model_name, pretrained=None,
                                   force_quick_gelu=quick_gelu)
    model.load_state_dict(state_dict)
    return model.eval()


@pytest.mark.parametrize('model_name', ['pomp-test-vit', 'pomp-test-rn'])
@pytest.mark.parametrize('truncate', [True, False])
def test_encode_text_equals_open_clip(model_name, truncate):
    torch.manual_seed(1)
    clip = FrozenCLIP(model_name)
    ref = _reference(model_name, clip.model.state_dict())
    tokens = clip.tokenizer(['a photo of a dog.', 'x', 'a red striped star '
                             'with a blue outline, seen from above'])
    ours = clip.encode_embeddings(clip.token_embedding(tokens),
                                  tokens.argmax(-1), truncate=truncate)
    torch.testing.assert_close(ours, ref.encode_text(tokens), rtol=1e-5,
                               atol=1e-6)
    torch.testing.assert_close(clip.encode_text(tokens, normalize=True),
                               ref.encode_text(tokens, normalize=True),
                               rtol=1e-5, atol=1e-6)
    images = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(clip.encode_image(images),
                               ref.encode_image(images))


def test_frozen_and_eval(tiny_clip):
    assert not any(p.requires_grad for p in tiny_clip.parameters())
    parent = nn.Sequential(tiny_clip).train()
    assert parent.training and not tiny_clip.model.training


def _save_formats(sd, tmp_path):
    openai = dict(sd, input_resolution=torch.tensor(32),
                  context_length=torch.tensor(77),
                  vocab_size=torch.tensor(49408))
    files = {
        'raw.pt': sd,
        'wrapped.pt': {'state_dict': sd, 'epoch': 3, 'name': 'x'},
        'ddp.pt': {'state_dict': {'module.' + k: v for k, v in sd.items()}},
        'openai.pt': openai,
    }
    for name, obj in files.items():
        torch.save(obj, tmp_path / name)
    return {k: str(tmp_path / k) for k in files}


def test_weight_formats(tiny_clip, tmp_path):
    sd = tiny_clip.model.state_dict()
    files = _save_formats(sd, tmp_path)
    tokens = tiny_clip.tokenizer(['a photo of a cat.'])
    want = tiny_clip.encode_text(tokens)
    for name in ('raw.pt', 'wrapped.pt', 'ddp.pt'):
        clip = FrozenCLIP('pomp-test-vit', checkpoint=files[name])
        assert clip.weight_format == 'open_clip'
        torch.testing.assert_close(clip.encode_text(tokens), want)
    openai = FrozenCLIP('pomp-test-vit', checkpoint=files['openai.pt'])
    assert openai.weight_format == 'openai'
    # OpenAI weights imply QuickGELU, which changes the function
    acts = {type(m).__name__ for m in openai.model.modules()}
    assert 'QuickGELU' in acts
    ref = _reference('pomp-test-vit', sd, quick_gelu=True)
    torch.testing.assert_close(openai.encode_text(tokens),
                               ref.encode_text(tokens), rtol=1e-5, atol=1e-6)


def test_torchscript_archive(tiny_clip, tmp_path):
    model = _reference('pomp-test-vit', tiny_clip.model.state_dict(),
                       quick_gelu=True)
    traced = torch.jit.trace(
        model, (torch.randn(1, 3, 32, 32), tiny_clip.tokenizer(['a'])),
        check_trace=False, strict=False)
    path = tmp_path / 'ViT-test.pt'
    torch.jit.save(traced, str(path))
    sd, fmt = read_clip_state_dict(str(path))
    assert fmt == 'openai-jit'
    # read weights-only, as data: the same tensors torch.jit.load gives
    jit = torch.jit.load(str(path)).state_dict()
    assert set(sd) == set(jit) - {'input_resolution', 'context_length',
                                  'vocab_size'}
    assert all(torch.equal(sd[k], jit[k]) for k in sd)
    clip = FrozenCLIP('pomp-test-vit', checkpoint=str(path))
    tokens = tiny_clip.tokenizer(['a photo of a cat.'])
    torch.testing.assert_close(clip.encode_text(tokens),
                               model.encode_text(tokens), rtol=1e-5,
                               atol=1e-6)


def test_state_dict_keeps_only_what_cannot_be_rebuilt(tiny_clip, clip_weights):
    from_file = FrozenCLIP('pomp-test-vit', checkpoint=clip_weights)
    assert from_file.state_dict() == {}
    # loading a state dict without CLIP keys reports no missing keys
    wrapper = nn.ModuleDict({'clip': from_file})
    assert wrapper.load_state_dict({}, strict=True).missing_keys == []
    assert len(tiny_clip.state_dict()) > 0  # random init: saved


@pytest.mark.parametrize('case,match', [
    ('missing', 'does not exist'),
    ('corrupt', 'cannot read CLIP checkpoint'),
    ('wrong_arch', 'does not fit model'),
    ('not_state_dict', 'holds no state dict'),
])
def test_bad_weights_one_clear_error(case, match, tmp_path):
    path = tmp_path / f'{case}.pt'
    if case == 'corrupt':
        path.write_bytes(b'\x80\x02not a checkpoint' * 10)
    elif case == 'wrong_arch':
        torch.save(FrozenCLIP('pomp-test-rn').model.state_dict(), path)
    elif case == 'not_state_dict':
        torch.save([1, 2, 3], path)
    with pytest.raises((ValueError, FileNotFoundError), match=match) as e:
        FrozenCLIP('pomp-test-vit', checkpoint=str(path))
    assert str(path) in str(e.value) and '\n' not in str(e.value)


def test_unknown_model_and_hub_names():
    with pytest.raises(ValueError, match='not an open_clip config'):
        FrozenCLIP('ViT-X-99')
    with pytest.raises(ValueError, match='hub schemas are not supported'):
        FrozenCLIP('hf-hub:timm/whatever')


def test_paper_architectures_are_known():
    for name in ('RN50', 'ViT-B-32', 'ViT-B-16', 'ViT-L-14'):
        assert name in open_clip.list_models()


@pytest.mark.parametrize('model_name', ['RN50', 'ViT-B-32'])
def test_real_architectures_text_path(model_name):
    """Full-size configs (random weights): the embedding entry point equals
    open_clip's encode_text, and the widths are the ones prompts expect."""
    torch.manual_seed(0)
    clip = FrozenCLIP(model_name, text_only=True)
    assert clip.model.visual is None and clip.text_width == 512
    tokens = clip.tokenizer(['a photo of a dog.', 'a bad photo of a cat.'])
    x = clip.model.token_embedding(tokens) + clip.model.positional_embedding
    x = clip.model.transformer(x, attn_mask=clip.model.attn_mask)
    x = clip.model.ln_final(x)[torch.arange(2), tokens.argmax(-1)]
    want = x @ clip.model.text_projection
    torch.testing.assert_close(clip.encode_text(tokens), want, rtol=1e-5,
                               atol=1e-5)


def test_clip_mean_std_are_open_clips():
    """One definition, 255 x open_clip's; the classifiers' and the
    segmentors' preprocessors use it (float32-identical to the digits
    they had)."""
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    from pomp_mm.cls.model import CLIPClassifierBase
    from pomp_mm.core.clip import CLIP_MEAN, CLIP_STD
    from pomp_mm.seg import maskclip
    for ours, theirs in ((CLIP_MEAN, OPENAI_DATASET_MEAN),
                         (CLIP_STD, OPENAI_DATASET_STD)):
        assert ours == pytest.approx([255 * v for v in theirs], abs=1e-9)
    assert CLIPClassifierBase.CLIP_MEAN == list(CLIP_MEAN)
    assert maskclip.CLIP_MEAN is CLIP_MEAN
    old = torch.tensor([122.770938, 116.7460125, 104.09373615])
    assert torch.equal(torch.tensor(CLIP_MEAN), old)  # float32: same
