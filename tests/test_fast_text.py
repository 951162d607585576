"""The shared-prefix text path equals the 77-token path (features, grads)."""
import copy

import pytest
import torch
import torch.nn as nn

import pomp_mm.core.prompt as prompt_mod
from pomp_mm.core import FrozenCLIP, PompPromptLearner
from pomp_mm.core.fast_text import encode_shared_prefix, supports_shared_prefix

# 1 to 12 BPE tokens, a name with '_', a one-letter name
NAMES = [
    'dog', 'cat_face', 'red striped star with a blue outline', 'x',
    'hammerhead shark', 'Pseudotsuga menziesii', 'golden retriever',
    'a very small grey bird sitting on the branch of an oak tree'
]
BATCHES = {
    'all': None,
    'duplicates': [2, 0, 0, 5, 3, 3, 2, 7],
    'single': [6],
    'mixed_lengths': [7, 3, 1, 4, 2],
}


def _run(learner, idx, fast, weight=None):
    """Features and the ctx gradient of sum(features * weight)."""
    learner.ctx.grad = None
    idx = None if idx is None else torch.tensor(idx)
    feats = learner(idx, truncate=fast, fast=fast)
    if weight is None:
        weight = torch.randn(feats.shape,
                             generator=torch.Generator().manual_seed(7))
    (feats.float() * weight).sum().backward()
    return feats.detach(), learner.ctx.grad.detach().clone()


def _rel(a, b):
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.fixture(scope='module')
def clips(tiny_clip):
    torch.manual_seed(3)
    return {
        'pomp-test-vit': tiny_clip,
        'pomp-test-rn': FrozenCLIP('pomp-test-rn', text_only=True),
        'pomp-tiny-vit': FrozenCLIP('pomp-tiny-vit', text_only=True)
    }


@pytest.mark.parametrize('model',
                         ['pomp-test-vit', 'pomp-test-rn', 'pomp-tiny-vit'])
@pytest.mark.parametrize('n_ctx', [1, 4, 16])
@pytest.mark.parametrize('batch', list(BATCHES))
def test_fast_equals_77_token_path(clips, model, n_ctx, batch):
    torch.manual_seed(n_ctx)
    learner = PompPromptLearner(clips[model], NAMES, n_ctx=n_ctx)
    fast_f, fast_g = _run(learner, BATCHES[batch], fast=True)
    ref_f, ref_g = _run(learner, BATCHES[batch], fast=False)
    assert fast_f.shape == ref_f.shape
    assert _rel(fast_f, ref_f) < 1e-5
    assert _rel(fast_g, ref_g) < 1e-5
    assert ref_g.abs().max() > 0


def test_real_size_tower_vit_b32():
    """Full-size ViT-B-32 text tower (random weights), a few classes."""
    torch.manual_seed(0)
    clip = FrozenCLIP('ViT-B-32', text_only=True)
    learner = PompPromptLearner(clip, NAMES[:5], n_ctx=16)
    idx = [4, 0, 2, 2]
    fast_f, fast_g = _run(learner, idx, fast=True)
    ref_f, ref_g = _run(learner, idx, fast=False)
    assert _rel(fast_f, ref_f) < 1e-5 and _rel(fast_g, ref_g) < 1e-5


def test_exact_in_float64(tiny_clip):
    clip64 = copy.deepcopy(tiny_clip).double()
    learner = PompPromptLearner(clip64, NAMES, n_ctx=4).double()
    w = torch.randn(8, 32, dtype=torch.float64)
    fast_f, fast_g = _run(learner, BATCHES['duplicates'], True, w)
    ref_f, ref_g = _run(learner, BATCHES['duplicates'], False, w)
    assert _rel(fast_f, ref_f) < 1e-12 and _rel(fast_g, ref_g) < 1e-12


def test_bf16_weights_close_to_fp32(tiny_clip, clip_weights):
    """bf16 tower (fp32 LayerNorm): the fast path (fp32 residual, LayerNorm
    and softmax) and the plain path both stay close to the fp32 result;
    fast is no worse than plain."""
    torch.manual_seed(0)
    ref = PompPromptLearner(tiny_clip, NAMES, n_ctx=4)
    ref_f, ref_g = _run(ref, None, fast=False)
    clip16 = FrozenCLIP('pomp-test-vit',
                        checkpoint=clip_weights,
                        precision='bf16')
    assert clip16.text_dtype == torch.bfloat16
    assert clip16.model.ln_final.weight.dtype == torch.float32
    low = PompPromptLearner(clip16, NAMES, n_ctx=4)
    assert low.ctx.dtype == torch.bfloat16
    low.ctx.data.copy_(ref.ctx.data)
    fast_f, fast_g = _run(low, None, fast=True)
    plain_f, plain_g = _run(low, None, fast=False)
    assert fast_f.dtype == plain_f.dtype == torch.bfloat16
    assert _rel(fast_f, ref_f) < 3e-2 and _rel(plain_f, ref_f) < 5e-2
    assert _rel(fast_g, ref_g) < 5e-2 and _rel(plain_g, ref_g) < 1e-1
    assert _rel(fast_f, ref_f) <= 1.5 * _rel(plain_f, ref_f)


def test_cpu_autocast_bf16(tiny_clip):
    torch.manual_seed(0)
    learner = PompPromptLearner(tiny_clip, NAMES, n_ctx=16)
    ref_f, ref_g = _run(learner, None, fast=False)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        fast_f, fast_g = _run(learner, None, fast=True)
    assert learner.ctx.dtype == torch.float32  # the prompt stays fp32
    assert _rel(fast_f, ref_f) < 3e-2 and _rel(fast_g, ref_g) < 5e-2
    assert torch.isfinite(fast_g).all()


def test_default_dispatch(tiny_clip, monkeypatch):
    calls = []
    real = prompt_mod.encode_shared_prefix

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(prompt_mod, 'encode_shared_prefix', spy)
    end = PompPromptLearner(tiny_clip, NAMES, n_ctx=4)
    end()
    end.encode_vocabulary(batch_size=3, progress=False)
    assert len(calls) == 1 + 3
    end(truncate=False)  # the 77-token reference
    end(fast=False)
    PompPromptLearner(tiny_clip, NAMES, n_ctx=4, fast_text=False)()
    for kwargs in (dict(class_token_position='middle'),
                   dict(class_token_position='front'),
                   dict(class_specific=True)):
        other = PompPromptLearner(tiny_clip, NAMES, n_ctx=4, **kwargs)
        other()
        with pytest.raises(ValueError, match='does not apply') as e:
            other(fast=True)
        assert '\n' not in str(e.value)
    assert len(calls) == 4


def test_unsupported_tower_falls_back(tiny_clip):
    odd = copy.deepcopy(tiny_clip)
    odd.model.transformer.resblocks[0].ln_1_kv = nn.Identity()
    ok, reason = supports_shared_prefix(odd)
    assert not ok and 'ResidualAttentionBlock' in reason
    learner = PompPromptLearner(odd, NAMES, n_ctx=4)
    assert learner.fast_path_reason()
    torch.testing.assert_close(learner(), learner(truncate=False))


def test_encode_shared_prefix_direct(tiny_clip):
    """Any prefix (not only SOS + ctx) and padded suffixes of any length."""
    torch.manual_seed(0)
    tok = tiny_clip.tokenizer
    prefix_ids = torch.tensor([tok.sot_token_id] + tok.encode('a photo of'))
    texts = ['a dog.', 'my favourite kind of striped cat.', 'x']
    rows = [tok.encode(t) + [tok.eot_token_id] for t in texts]
    suffix = torch.zeros(len(rows), 12, dtype=torch.long)
    for i, r in enumerate(rows):
        suffix[i, :len(r)] = torch.tensor(r)
    lens = torch.tensor([len(r) for r in rows])
    prefix = tiny_clip.token_embedding(prefix_ids)
    got = encode_shared_prefix(tiny_clip, prefix, suffix, lens, normalize=True)
    want = tiny_clip.encode_text(tok(['a photo of ' + t for t in texts]),
                                 normalize=True)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    for bad in (torch.tensor([0, 2, 2]), torch.tensor([2, 2, 80])):
        with pytest.raises(ValueError, match='suffix lengths') as e:
            encode_shared_prefix(tiny_clip, prefix, suffix, bad)
        assert '\n' not in str(e.value)


def test_training_step_loss_and_grads_match(tiny_clip):
    """One POMP step through PromptCLIPClassifier.loss, both paths."""
    from mmpretrain.structures import DataSample

    from pomp_mm.cls import PromptCLIPClassifier
    names = [f'class {i} {"long " * (i % 5)}name' for i in range(40)]
    torch.manual_seed(0)
    feats = nn.functional.normalize(torch.randn(16, 32), dim=-1)
    samples = [DataSample().set_gt_label(i % 7) for i in range(8)]
    out = []
    for fast in (True, False):
        torch.manual_seed(1)
        model = PromptCLIPClassifier(prompt_learner=dict(
            type='PompPromptLearner', clip=tiny_clip, n_ctx=4, fast_text=fast),
                                     loss=dict(type='PompLoss',
                                               num_classes_per_step=10,
                                               seed=0),
                                     train_vocabulary=names)
        model.extract_feat = lambda x: x  # image features given
        loss = model.loss(feats, samples)['loss']
        loss.backward()
        out.append((loss.detach(), model.prompt_learner.ctx.grad.clone()))
    torch.testing.assert_close(out[0][0], out[1][0], rtol=1e-5, atol=1e-6)
    assert _rel(out[0][1], out[1][1]) < 1e-5
