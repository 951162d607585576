"""Self-describing prompt files: what ``meta`` records, what is checked on
load (one line naming both sides; ``check_clip_model=False`` overrides),
and a frozen prompt file that is not part of model checkpoints."""
import hashlib
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import load_checkpoint, load_state_dict

from pomp_mm.core import FrozenCLIP, PompPromptLearner, save_prompt
from pomp_mm.core.checkpoint import load_prompt_file
from pomp_mm.core.clip import weights_fingerprint
from pomp_mm.core.hooks import PromptCheckpointHook
from pomp_mm.version import __version__

NAMES = ['red circle', 'blue_star', 'green square']


@pytest.fixture(scope='module')
def clips(tmp_path_factory, clip_weights):
    """The session's tiny CLIP from its file, and another init of it."""
    folder = tmp_path_factory.mktemp('clips')
    torch.manual_seed(5)
    other = str(folder / 'other.pt')
    torch.save(FrozenCLIP('pomp-test-vit', allow_random=True)
               .model.state_dict(), other)
    return (FrozenCLIP('pomp-test-vit', checkpoint=clip_weights),
            FrozenCLIP('pomp-test-vit', checkpoint=other), other)


class _Log:
    """The text MMEngine's current logger writes inside the block."""

    def __enter__(self):
        import io
        import logging
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.logger = MMLogger.get_current_instance()
        self.logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)

    @property
    def text(self):
        return self.stream.getvalue()


def _learner(clip, **kw):
    kw.setdefault('vocabulary', NAMES)
    return PompPromptLearner(clip, **kw)


def _hook_file(learner, folder):
    """The prompt file PromptCheckpointHook writes for a model holding
    ``learner`` as ``prompt_learner``."""
    model = torch.nn.Module()
    model.prompt_learner = learner
    cfg = Config(dict(model=dict(type='X', n=1)))
    runner = SimpleNamespace(model=model, work_dir=str(folder), cfg=cfg,
                             train_loop=None,
                             logger=MMLogger.get_current_instance())
    checkpoint = {'meta': {'epoch': 0, 'iter': 7},
                  'state_dict': {'prompt_learner.ctx': learner.ctx.detach()}}
    PromptCheckpointHook().before_save_checkpoint(runner, checkpoint)
    return str(folder / 'prompt_iter_7.pth'), cfg


def test_hook_writes_every_field_and_the_official_keys(clips, tmp_path,
                                                      clip_weights):
    clip = clips[0]
    learner = _learner(clip, n_ctx=3, class_token_position='middle')
    path, cfg = _hook_file(learner, tmp_path)
    raw = torch.load(path, weights_only=True)
    # the official keys: an official loader reads state_dict.ctx and epoch
    assert set(raw) == {'state_dict', 'epoch', 'meta'}
    assert torch.equal(raw['state_dict']['ctx'], learner.ctx.detach())
    assert raw['epoch'] == 0
    meta = raw['meta']
    joined = '\n'.join(NAMES).encode('utf-8')
    assert meta == {
        'iter': 7, 'key': 'prompt_learner.ctx', 'n_ctx': 3, 'width': 32,
        'clip_model': 'pomp-test-vit',
        'clip_fingerprint': clip.fingerprint,
        'clip_checkpoint': 'pomp-test-vit.pt',
        'class_token_position': 'middle', 'class_specific': False,
        'context_length': 77, 'tokenizer': type(clip.tokenizer).__name__,
        'vocabulary_size': 3,
        'vocabulary_hash': 'sha256:' + hashlib.sha256(joined).hexdigest()[:16],
        'pomp_mm_version': __version__, 'config': cfg.pretty_text}
    # and it loads back into a learner of the same CLIP, with the file's n_ctx
    again = _learner(clip, prompt_checkpoint=path,
                     class_token_position='middle')
    assert again.n_ctx == 3 and torch.equal(again.ctx, learner.ctx)


def test_fingerprint_is_of_the_weights_not_the_file(clips, tmp_path,
                                                    clip_weights):
    own, other, _ = clips
    sd = torch.load(clip_weights, weights_only=True)
    assert own.fingerprint == weights_fingerprint(sd)
    assert own.fingerprint.startswith('sha256:') and \
        len(own.fingerprint) == len('sha256:') + 16
    # the same weights in another file layout: the same fingerprint
    wrapped = str(tmp_path / 'wrapped.pt')
    torch.save({'state_dict': {'module.' + k: v for k, v in sd.items()}},
               wrapped)
    assert FrozenCLIP('pomp-test-vit', checkpoint=wrapped).fingerprint == \
        own.fingerprint
    # other weights of the same architecture, or one changed value: another
    assert other.fingerprint != own.fingerprint
    key = sorted(sd)[0]
    changed = dict(sd)
    changed[key] = sd[key].clone()
    changed[key].view(-1)[0] += 1
    assert weights_fingerprint(changed) != own.fingerprint
    # a random CLIP has none (nothing to check against)
    assert FrozenCLIP('pomp-test-vit', allow_random=True).fingerprint is None


def test_fingerprint_mismatch_is_one_line_naming_both(clips, tmp_path):
    own, other, other_path = clips
    path, _ = _hook_file(_learner(other, n_ctx=4), tmp_path)
    want = (f'prompt {path!r} was trained on CLIP weights '
            f"{other.fingerprint} (its meta.clip_fingerprint, file "
            f"'other.pt') but goes into CLIP 'pomp-test-vit' with weights "
            f'{own.fingerprint} (file {own.checkpoint!r}); use the CLIP '
            'weights the prompt was trained on, or a prompt trained on these '
            '(check_clip_model=False overrides)')
    with pytest.raises(ValueError) as e:
        _learner(own, prompt_checkpoint=path)
    assert str(e.value) == want
    with pytest.raises(ValueError) as e:
        _learner(own, n_ctx=4).load_prompt(path)
    assert str(e.value) == want
    # the override, and the CLIP it was trained on
    assert _learner(own, prompt_checkpoint=path,
                    check_clip_model=False).ctx_source == path
    assert _learner(other, prompt_checkpoint=path).ctx_source == path


def test_clip_model_and_position_mismatches(clips, tmp_path):
    own = clips[0]
    path = str(tmp_path / 'p.pth')
    save_prompt(path, torch.randn(4, 32), meta={'clip_model': 'ViT-B-32'})
    with pytest.raises(ValueError) as e:
        _learner(own, prompt_checkpoint=path)
    assert str(e.value) == (
        f"prompt {path!r} was trained for CLIP 'ViT-B-32' (its "
        "meta.clip_model) but goes into CLIP 'pomp-test-vit'; use a prompt "
        'trained for this CLIP model (check_clip_model=False overrides)')
    save_prompt(path, torch.randn(4, 32),
                meta={'clip_model': 'pomp-test-vit',
                      'class_token_position': 'front'})
    with pytest.raises(ValueError) as e:
        _learner(own, prompt_checkpoint=path)
    assert str(e.value) == (
        f"prompt {path!r} was trained with class_token_position='front' "
        "(its meta.class_token_position) but this learner has 'end'; set "
        "class_token_position='front' (check_clip_model=False overrides)")
    _learner(own, prompt_checkpoint=path, class_token_position='front')
    _learner(own, prompt_checkpoint=path, check_clip_model=False)


def test_official_and_old_files_without_meta_load(clips, tmp_path):
    own = clips[0]
    ctx = torch.randn(5, 32)
    official = str(tmp_path / 'official.pth')
    torch.save({'state_dict': {'ctx': ctx.half()}, 'epoch': 20}, official)
    learner = _learner(own, prompt_checkpoint=official)
    assert learner.n_ctx == 5
    assert torch.allclose(learner.ctx, ctx.half().float())
    assert load_prompt_file(official)[1] == {}
    old = str(tmp_path / 'old.pth')  # pomp_mm's first meta: no fingerprint
    save_prompt(old, ctx, meta={'clip_model': 'pomp-test-vit', 'n_ctx': 5})
    assert _learner(own, prompt_checkpoint=old).ctx_source == old


def test_mmengine_load_checkpoint_checks_meta_and_names_the_file(
        clips, tmp_path):
    own, other, _ = clips
    path, _ = _hook_file(_learner(other, n_ctx=4), tmp_path)
    model = torch.nn.Module()
    model.prompt_learner = _learner(own, n_ctx=4)
    with pytest.raises(ValueError, match='meta.clip_fingerprint'):
        load_checkpoint(model, path)
    model.prompt_learner = _learner(other, n_ctx=4)
    with _Log() as log:
        load_checkpoint(model, path)
    assert ("loaded the checkpoint's prompt ctx (4, 32) into prompt_learner "
            f'(prompt file {path})') in log.text


def test_frozen_prompt_file_is_not_saved_and_wins_over_a_stored_ctx(
        clips, tmp_path):
    own = clips[0]
    path = str(tmp_path / 'p.pth')
    ctx = torch.randn(4, 32)
    save_prompt(path, ctx)
    frozen = _learner(own, prompt_checkpoint=path, freeze=True)
    assert 'ctx' not in frozen.state_dict()
    # an older checkpoint that stored another ctx: the file's is kept, and
    # the log says so; nothing is reported missing or unexpected
    with _Log() as log:
        result = frozen.load_state_dict({'ctx': torch.zeros(4, 32)})
    assert torch.equal(frozen.ctx.detach(), ctx)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert ("ignoring the checkpoint's 'ctx' (an older checkpoint stored "
            f'it); the configured frozen prompt ({path}) is used') \
        in log.text
    assert frozen.load_state_dict({}).missing_keys == []
    # a trainable prompt, a frozen ctx_init or random one: saved and loaded
    for kw in ({'prompt_checkpoint': path}, {'ctx_init': 'a photo of a',
                                             'freeze': True},
               {'n_ctx': 4, 'freeze': True}):
        learner = _learner(own, **kw)
        assert 'ctx' in learner.state_dict()
        new = torch.randn(tuple(learner.ctx.shape))
        load_state_dict(learner, {'ctx': new})
        assert torch.equal(learner.ctx.detach(), new)
