"""PompPromptLearner against an independent CoOp-style construction."""
import pytest
import torch

from pomp_mm.core import PompPromptLearner, read_vocabulary

NAMES = ['dog', 'cat_face', 'red striped star with a blue outline', 'x']


def _coop_reference(clip, names, ctx, position, n_ctx, class_specific=False):
    """The official construction, written out per class (CoOp's loop)."""
    tok = clip.tokenizer
    prompts = [' '.join(['X'] * n_ctx) + ' ' + n.replace('_', ' ') + '.'
               for n in names]
    tokens = tok(prompts)
    emb = clip.token_embedding(tokens)
    prefix, suffix = emb[:, :1], emb[:, 1 + n_ctx:]
    out = []
    for i, name in enumerate(names):
        c = ctx[i] if class_specific else ctx
        nl = len(tok.encode(name.replace('_', ' ')))
        p, s = prefix[i:i + 1], suffix[i:i + 1]
        if position == 'end':
            seq = torch.cat([p, c[None], s], 1)
        elif position == 'front':
            seq = torch.cat([p, s[:, :nl], c[None], s[:, nl:]], 1)
        else:
            h = n_ctx // 2
            seq = torch.cat([p, c[None, :h], s[:, :nl], c[None, h:],
                             s[:, nl:]], 1)
        out.append(seq)
    emb = torch.cat(out)
    model = clip.model
    x = emb + model.positional_embedding
    x = model.transformer(x, attn_mask=model.attn_mask)
    x = model.ln_final(x)
    x = x[torch.arange(len(x)), tokens.argmax(-1)] @ model.text_projection
    return x


@pytest.mark.parametrize('position', ['end', 'middle', 'front'])
@pytest.mark.parametrize('n_ctx', [1, 4, 16])
def test_features_match_official_construction(tiny_clip, position, n_ctx):
    torch.manual_seed(0)
    learner = PompPromptLearner(tiny_clip, NAMES, n_ctx=n_ctx,
                                class_token_position=position)
    ref = _coop_reference(tiny_clip, NAMES, learner.ctx, position, n_ctx)
    for truncate in (True, False):
        torch.testing.assert_close(learner(truncate=truncate), ref,
                                   rtol=1e-5, atol=1e-6)


def test_class_specific_ctx(tiny_clip):
    learner = PompPromptLearner(tiny_clip, NAMES, n_ctx=3,
                                class_specific=True)
    assert learner.ctx.shape == (4, 3, tiny_clip.text_width)
    ref = _coop_reference(tiny_clip, NAMES, learner.ctx, 'end', 3, True)
    torch.testing.assert_close(learner(), ref, rtol=1e-5, atol=1e-6)
    idx = torch.tensor([2, 0])
    torch.testing.assert_close(learner(idx), ref[idx], rtol=1e-5, atol=1e-6)


def test_fast_and_plain_paths_have_equal_ctx_grads(tiny_clip):
    learner = PompPromptLearner(tiny_clip, NAMES, n_ctx=4)
    grads = []
    for truncate in (True, False):
        learner.ctx.grad = None
        learner(truncate=truncate).square().sum().backward()
        grads.append(learner.ctx.grad.clone())
    scale = grads[1].abs().max()
    assert (grads[0] - grads[1]).abs().max() <= 1e-5 * scale
    assert all(p.grad is None for p in tiny_clip.parameters())


def test_truncation_is_exact_in_float64(tiny_clip):
    import copy
    clip64 = copy.deepcopy(tiny_clip).double()
    learner = PompPromptLearner(clip64, NAMES, n_ctx=4).double()
    grads, feats = [], []
    for truncate in (True, False):
        learner.ctx.grad = None
        out = learner(truncate=truncate)
        out.square().sum().backward()
        feats.append(out.detach())
        grads.append(learner.ctx.grad.clone())
    torch.testing.assert_close(feats[0], feats[1], rtol=1e-12, atol=1e-12)
    assert (grads[0] - grads[1]).abs().max() <= 1e-12 * grads[1].abs().max()


def test_ctx_init_from_words(tiny_clip):
    learner = PompPromptLearner(tiny_clip, NAMES, ctx_init='a photo of a')
    ids = torch.tensor(tiny_clip.tokenizer.encode('a photo of a'))
    assert learner.n_ctx == len(ids) == 4
    torch.testing.assert_close(learner.ctx.data,
                               tiny_clip.token_embedding(ids))
    # with the word embeddings, the prompt is the hand-written text
    want = tiny_clip.encode_text(tiny_clip.tokenizer(
        ['a photo of a dog.', 'a photo of a cat face.']))
    torch.testing.assert_close(learner(torch.tensor([0, 1])), want,
                               rtol=1e-5, atol=1e-6)


def test_random_init_std(tiny_clip):
    torch.manual_seed(0)
    learner = PompPromptLearner(tiny_clip, None, n_ctx=64)
    assert learner.ctx.shape == (64, tiny_clip.text_width)
    assert learner.ctx.requires_grad and learner.num_classes == 0
    assert abs(learner.ctx.std().item() - 0.02) < 0.002


def test_vocabulary_file_and_errors(tiny_clip, tmp_path):
    f = tmp_path / 'names.txt'
    f.write_text('dog\ncat_face\n')
    assert read_vocabulary(str(f)) == ['dog', 'cat_face']
    learner = PompPromptLearner(tiny_clip, str(f), n_ctx=4)
    assert learner.class_names == ['dog', 'cat_face']
    cases = {
        'missing.txt': None,
        'empty.txt': '',
        'blank.txt': 'dog\n\ncat\n',
        'dup.txt': 'dog\ncat\ndog\n',
    }
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises((ValueError, FileNotFoundError)) as e:
            read_vocabulary(str(path))
        assert name in str(e.value)
    with pytest.raises(ValueError, match='appears twice'):
        read_vocabulary(['dog', 'dog'])
    with pytest.raises(ValueError, match='is empty'):
        read_vocabulary([])


def test_name_too_long_for_context(tiny_clip):
    long_name = ' '.join(['word'] * 72)  # 1 + 4 + 72 + 1 + 1 = 79 > 77
    with pytest.raises(ValueError, match='do not fit') as e:
        PompPromptLearner(tiny_clip, ['dog', long_name], n_ctx=4)
    assert 'word word' in str(e.value)
    # 60 words fit with n_ctx=4 (1 + 4 + 60 + 1 + 1 = 67) but not with 16
    PompPromptLearner(tiny_clip, [' '.join(['word'] * 60)], n_ctx=4)
    with pytest.raises(ValueError, match='n_ctx=16'):
        PompPromptLearner(tiny_clip, [' '.join(['word'] * 60)], n_ctx=16)


def test_vocabulary_switch_reuses_tokens(tiny_clip):
    learner = PompPromptLearner(tiny_clip, NAMES, n_ctx=4)
    first = learner.token_ids.clone()
    learner.set_vocabulary(['a', 'b'])
    assert learner.num_classes == 2
    learner.set_vocabulary(NAMES)
    assert torch.equal(learner.token_ids, first)
    assert learner.vocabulary_version == 3


def test_encode_vocabulary_batches(tiny_clip):
    names = [f'class {i}' for i in range(37)]
    learner = PompPromptLearner(tiny_clip, names, n_ctx=2)
    full = learner(normalize=True)
    batched = learner.encode_vocabulary(batch_size=8, progress=False)
    torch.testing.assert_close(batched, full, rtol=1e-5, atol=1e-6)
    assert not batched.requires_grad


# -- the one prompt route -----------------------------------------------------
def test_load_prompt_keeps_the_optimizer_parameter(tiny_clip, tmp_path):
    from pomp_mm.core import load_prompt
    from pomp_mm.core.checkpoint import save_prompt
    from pomp_mm.core.prompt import load_prompt_into, load_prompt_state_into
    model = torch.nn.Module()
    model.prompt_learner = PompPromptLearner(tiny_clip, ['dog', 'cat'],
                                             n_ctx=4)
    param = model.prompt_learner.ctx
    optim = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / 'p.pth'
    ctx = torch.randn(4, tiny_clip.text_width)
    save_prompt(str(path), ctx)
    assert load_prompt(model, str(path)) == ['prompt_learner']
    assert model.prompt_learner.ctx is param
    assert optim.param_groups[0]['params'][0] is param
    assert torch.equal(param.detach(), ctx)
    # the loaded state route and the old names do the same
    other = torch.randn(4, tiny_clip.text_width)
    assert load_prompt_state_into(model, {'ctx': other}, 'mem') == [
        'prompt_learner']
    assert model.prompt_learner.ctx is param and torch.equal(param, other)
    assert load_prompt_into(model, str(path)) == 1
    assert torch.equal(param.detach(), ctx)
    # a step of the optimizer built before the load trains the loaded ctx
    model.prompt_learner(normalize=True).sum().backward()
    optim.step()
    assert not torch.equal(param.detach(), ctx)
    with pytest.raises(ValueError, match='has no PompPromptLearner'):
        load_prompt(torch.nn.Linear(2, 2), str(path))
    assert load_prompt(torch.nn.Linear(2, 2), {'ctx': ctx},
                       required=False) == []


def test_non_finite_ctx_is_one_message(tiny_clip, tmp_path):
    from pomp_mm.core.checkpoint import CheckpointMismatchError
    learner = PompPromptLearner(tiny_clip, ['dog'], n_ctx=2)
    bad = torch.zeros(2, tiny_clip.text_width)
    bad[0, 0] = float('nan')
    tail = ('ctx has 1 non-finite values (NaN/Inf) of '
            f'{bad.numel()}; expected finite numbers (the training that '
            'wrote it diverged)')
    with pytest.raises(CheckpointMismatchError) as info:
        learner.adopt_ctx(bad, 'mem')
    assert str(info.value) == f"prompt 'mem': {tail}"
    with pytest.raises(CheckpointMismatchError) as info:
        learner.load_state_dict({'ctx': bad}, strict=False)
    assert str(info.value) == f"checkpoint key 'ctx': {tail}"
