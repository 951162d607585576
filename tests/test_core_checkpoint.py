"""Prompt files: official format round trip, released variants, errors."""
import pytest
import torch

from pomp_mm.core import (PompPromptLearner, load_prompt_ctx, save_prompt)
from pomp_mm.core.prompt import load_prompt_into


def test_round_trip_official_format(tmp_path):
    ctx = torch.randn(4, 32)
    path = tmp_path / 'p.pth'
    save_prompt(str(path), ctx, epoch=5, meta={'n_ctx': 4})
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {'state_dict', 'epoch', 'meta'}
    assert raw['epoch'] == 5 and list(raw['state_dict']) == ['ctx']
    assert torch.equal(load_prompt_ctx(str(path)), ctx)
    assert not list(tmp_path.glob('.*.tmp'))  # no temp file left behind


@pytest.mark.parametrize('layout', ['released', 'module', 'zsseg', 'bare'])
def test_released_variants_cast_to_tower_dtype(tmp_path, layout):
    ctx = torch.randn(16, 32)
    state = {
        'released': {'state_dict': {'ctx': ctx.half(),
                                    'token_prefix': torch.zeros(3, 1, 32)},
                     'epoch': 20, 'optimizer': {'state': {}}},
        'module': {'state_dict': {'module.ctx': ctx.half()}},
        'zsseg': {'model': {'clip_adapter.prompt_learner.ctx': ctx,
                            'backbone.w': torch.zeros(2)}},
        'bare': {'ctx': ctx},
    }[layout]
    path = tmp_path / 'p.pth.tar'
    torch.save(state, path)
    got = load_prompt_ctx(str(path), width=32, dtype=torch.float32)
    assert got.dtype == torch.float32 and got.shape == (16, 32)
    torch.testing.assert_close(got, ctx, atol=1e-2, rtol=1e-2)


def test_full_mmengine_checkpoint(tmp_path):
    from mmengine.logging import HistoryBuffer
    ctx = torch.randn(4, 32)
    ckpt = {'meta': {'epoch': 2}, 'state_dict': {
        'prompt_learner.ctx': ctx, 'loss_module._extra_state': {}},
        'message_hub': {'log_scalars': {'loss': HistoryBuffer()}}}
    path = tmp_path / 'epoch_2.pth'
    torch.save(ckpt, path)
    with pytest.raises(Exception):  # not weights-only loadable
        torch.load(path, weights_only=True)
    assert torch.equal(load_prompt_ctx(str(path)), ctx)


@pytest.mark.parametrize('case,match', [
    ('width', 'ctx width 768'),
    ('no_ctx', 'no prompt context'),
    ('corrupt', 'corrupt or truncated'),
    ('truncated', 'corrupt or truncated'),
    ('missing', 'does not exist'),
    ('not_dict', 'expected a dict'),
])
def test_bad_prompt_files(tmp_path, case, match):
    path = tmp_path / f'{case}.pth'
    if case == 'width':
        save_prompt(str(path), torch.randn(16, 768))
    elif case == 'no_ctx':
        torch.save({'state_dict': {'weight': torch.zeros(2)}}, path)
    elif case == 'corrupt':
        path.write_bytes(b'garbage' * 50)
    elif case == 'truncated':
        save_prompt(str(path), torch.randn(16, 32))
        path.write_bytes(path.read_bytes()[:200])
    elif case == 'not_dict':
        torch.save(torch.zeros(3), path)
    with pytest.raises((ValueError, FileNotFoundError), match=match) as e:
        load_prompt_ctx(str(path), width=512 if case == 'width' else None)
    assert str(path) in str(e.value) and '\n' not in str(e.value)


def test_learner_loads_prompt_and_adopts_n_ctx(tiny_clip, tmp_path):
    path = tmp_path / 'p.pth'
    ctx = torch.randn(4, tiny_clip.text_width)
    save_prompt(str(path), ctx.half())
    learner = PompPromptLearner(tiny_clip, ['dog', 'cat'], n_ctx=16)
    assert load_prompt_into(torch.nn.Sequential(learner), str(path)) == 1
    assert learner.n_ctx == 4 and learner.ctx.dtype == torch.float32
    fresh = PompPromptLearner(tiny_clip, ['dog', 'cat'],
                              prompt_checkpoint=str(path))
    torch.testing.assert_close(learner(), fresh())
    with pytest.raises(ValueError, match='n_ctx=4 but the config sets'):
        PompPromptLearner(tiny_clip, ['dog'], n_ctx=16,
                          prompt_checkpoint=str(path))
