"""A checkpoint that does not fit the model is an error, not MMEngine's
logged "size mismatch" over the config's own (random) ctx."""
import os.path as osp

import pytest
import torch
from mmengine.runner.checkpoint import load_state_dict

import pomp_mm.cls  # noqa: F401
from pomp_mm.core import PompPromptLearner, save_prompt
from pomp_mm.core.checkpoint import CheckpointMismatchError
from pomp_mm.engine import test as engine_test

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'pomp', 'pretrain.py')


def _learner(tiny_clip, **kw):
    kw.setdefault('n_ctx', 4)
    return PompPromptLearner(tiny_clip, vocabulary=['cat', 'dog'], **kw)


def test_other_n_ctx_is_refused(tiny_clip):
    learner = _learner(tiny_clip)
    with pytest.raises(CheckpointMismatchError) as e:
        load_state_dict(learner, {'ctx': torch.randn(8, 32)})
    assert str(e.value) == (
        "checkpoint key 'ctx' has shape (8, 32) but the model's prompt has "
        "(4, 32) (n_ctx=4, width=32); use the config the checkpoint was "
        "trained with (e.g. --cfg-options model.prompt_learner.n_ctx=8)")


def test_non_finite_ctx_in_a_checkpoint_is_refused(tiny_clip):
    learner = _learner(tiny_clip)
    ctx = torch.randn(4, 32)
    ctx[0, 0] = float('nan')
    with pytest.raises(CheckpointMismatchError, match='non-finite'):
        load_state_dict(learner, {'ctx': ctx})


def test_frozen_random_prompt_needs_its_ctx(tiny_clip):
    with pytest.raises(CheckpointMismatchError) as e:
        load_state_dict(_learner(tiny_clip, freeze=True), {})
    assert str(e.value) == (
        "checkpoint has no 'ctx', and this frozen prompt was never loaded "
        "(its ctx is random); expected a checkpoint that holds it, or a "
        "prompt file (prompt_checkpoint=...)")
    # trainable (CoOp from scratch) or loaded from a file: fine
    load_state_dict(_learner(tiny_clip), {})
    learner = _learner(tiny_clip, ctx_init=None)
    good = torch.randn(4, 32)
    load_state_dict(learner, {'ctx': good})
    assert torch.equal(learner.ctx.detach(), good)


def test_load_prompt_keeps_the_parameter_an_optimizer_holds(tiny_clip,
                                                            tmp_path):
    learner = _learner(tiny_clip)
    optim = torch.optim.SGD([learner.ctx], lr=0.1)
    path = str(tmp_path / 'p.pth')
    want = torch.randn(4, 32)
    save_prompt(path, want)
    learner.load_prompt(path)
    assert optim.param_groups[0]['params'][0] is learner.ctx
    assert torch.equal(learner.ctx.detach(), want)
    assert learner.ctx_source == path


def test_tools_test_refuses_a_checkpoint_of_another_n_ctx(tmp_path):
    path = str(tmp_path / 'epoch_5.pth')
    torch.save({'meta': {'epoch': 5},
                'state_dict': {'prompt_learner.ctx': torch.randn(8, 64)}},
               path)
    with pytest.raises(SystemExit) as e:
        engine_test.main([CONFIG, path, '--work-dir',
                                str(tmp_path / 'w')])
    assert str(e.value) == (
        f"test.py: error: {path}: checkpoint key 'prompt_learner.ctx' has "
        "shape (8, 64) but the model's prompt has (4, 64) (n_ctx=4, "
        "width=64); use the config the checkpoint was trained with (e.g. "
        "--cfg-options model.prompt_learner.n_ctx=8)")


RANDOM_CLIP = (
    "FrozenCLIP('pomp-test-vit'): no checkpoint given, so its weights would "
    'be random and every number meaningless; expected checkpoint=<a local '
    'CLIP weight file> (e.g. --cfg-options model.prompt_learner.clip.'
    'checkpoint=checkpoints/ViT-B-16.pt; pomp_mm never downloads weights), '
    'or allow_random=True for a random CLIP (tests, benchmarks, demos)')


def test_random_clip_only_when_asked_for(monkeypatch, tmp_path):
    """Outside the suite (which sets POMP_MM_ALLOW_RANDOM_CLIP=1), a missing
    CLIP checkpoint is an error, not 0.0 accuracy with exit code 0."""
    from pomp_mm.core import FrozenCLIP
    from pomp_mm.core.clip import RandomCLIPError
    monkeypatch.delenv('POMP_MM_ALLOW_RANDOM_CLIP')
    with pytest.raises(RandomCLIPError) as e:
        FrozenCLIP('pomp-test-vit')
    assert str(e.value) == RANDOM_CLIP
    FrozenCLIP('pomp-test-vit', allow_random=True)  # asked for: fine
    # through tools/test.py: one line, before any work
    with pytest.raises(SystemExit) as e:
        engine_test.main([CONFIG, '--work-dir', str(tmp_path / 'w'),
                                '--cfg-options',
                                'model.prompt_learner.clip.allow_random=False'
                                ])
    assert str(e.value) == 'test.py: error: ' + \
        RANDOM_CLIP.replace('pomp-test-vit', 'pomp-tiny-vit')


def test_prompt_for_another_clip_model_is_refused(tiny_clip, tmp_path):
    path = str(tmp_path / 'p.pth')
    save_prompt(path, torch.randn(4, 32), meta={'clip_model': 'ViT-B-32'})
    with pytest.raises(ValueError) as e:
        _learner(tiny_clip, prompt_checkpoint=path, n_ctx=None)
    assert str(e.value) == (
        f"prompt {path!r} was trained for CLIP 'ViT-B-32' (its "
        "meta.clip_model) but goes into CLIP 'pomp-test-vit'; use a prompt "
        'trained for this CLIP model (check_clip_model=False overrides)')
    with pytest.raises(ValueError, match='trained for CLIP'):
        _learner(tiny_clip).load_prompt(path)
    learner = _learner(tiny_clip, prompt_checkpoint=path, n_ctx=None,
                       check_clip_model=False)
    assert learner.ctx_source == path
    save_prompt(path, torch.randn(4, 32))  # no meta (official files): fine
    _learner(tiny_clip).load_prompt(path)
