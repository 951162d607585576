"""No silent NaN: diverging runs stop with one line, the good files stay.

Covers :class:`~pomp_mm.core.hooks.NonFiniteCheckHook` (loss and learned
parameters after every iteration, all parameters before training, every
checkpoint before it is written), :class:`PromptCheckpointHook`'s refusal
of a non-finite ctx, the K / N settings whose POMP loss is undefined and
``tools/dump_text_features.py``'s refusal of non-finite features. The
training runs use the random tiny CLIP ('pomp-test-vit') on six 32x32
class folders: seconds each.
"""
import os.path as osp
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from test_reliability import (CLASSES, PRETRAIN, ROOT, make_class_folders,
                              tiny_pretrain_config)

import pomp_mm.cls  # noqa: F401  (registers the classifier)
from pomp_mm.core import PompLoss, pomp_logits, save_prompt
from pomp_mm.core.checkpoint import safe_torch_load
from pomp_mm.core.hooks import (
    NonFiniteCheckHook,
    NonFiniteError,
    PromptCheckpointHook,
    non_finite_summary,
)
from pomp_mm.core.pomp_loss import UndefinedLossError
from pomp_mm.engine import dump_text_features as dump_cli
from pomp_mm.engine import train as engine_train

# six classes x 4 images, batch 4: 6 iterations per epoch
ITERS_PER_EPOCH = len(CLASSES) * 4 // 4
N_CTX, WIDTH = 4, 32

LR_HINT = ('lower the learning rate (optim_wrapper.optimizer.lr) or clip '
           'gradients (optim_wrapper.clip_grad)')
KEPT = ('training stopped; the checkpoints and prompt files already written '
        'are kept')


def _config(tmp, clip_weights, epochs=2):
    """configs/pomp/pretrain.py on the tiny CLIP and six class folders."""
    data = make_class_folders(str(tmp / 'data'))
    cfg = tiny_pretrain_config(data, clip_weights, epochs,
                               val_interval=100)  # no validation: faster
    cfg.work_dir = str(tmp / 'work')
    return cfg


def _ctx(path):
    """ctx of a prompt file or an MMEngine checkpoint (weights only)."""
    state = safe_torch_load(path)['state_dict']
    return state.get('ctx', state.get('prompt_learner.ctx'))


# -- training -----------------------------------------------------------------
def test_config_runs_the_hook():
    cfg = Config.fromfile(PRETRAIN)
    assert 'NonFiniteCheckHook' in [h['type'] for h in cfg.custom_hooks]


def test_diverging_run_stops_with_one_line(tmp_path, clip_weights):
    """The issue's case: --cfg-options optim_wrapper.optimizer.lr=1e30."""
    cfg = _config(tmp_path, clip_weights)
    cfg.dump(str(tmp_path / 'run.py'))
    with pytest.raises(SystemExit) as info:
        engine_train.main([
            str(tmp_path / 'run.py'), '--work-dir', cfg.work_dir,
            '--cfg-options', 'optim_wrapper.optimizer.lr=1e30'])
    message = str(info.value.code)
    # which step first overflows depends on the floats; the rest is exact
    match = re.fullmatch(
        r'train\.py: error: non-finite (loss \((?:nan|inf)\)|parameter '
        r'prompt_learner\.ctx \([-a-z ]+ in \d+ of 128 values\) after the '
        r'update) at iteration (\d+) \(epoch (\d+)\): ' + re.escape(
            f'{KEPT}; {LR_HINT}'), message)
    assert match, message
    it, epoch = int(match[2]), int(match[3])
    assert epoch == (it - 1) // ITERS_PER_EPOCH + 1
    work = Path(cfg.work_dir)
    for path in work.glob('*.pth'):  # whatever was written is finite
        assert torch.isfinite(_ctx(path)).all(), path.name


def test_nan_in_epoch_2_keeps_the_epoch_1_files(tmp_path, clip_weights):
    """Runner.from_cfg (no pomp_mm tool): epoch 1 trains and is saved, the
    learning rate turns NaN at epoch 2; the run stops at its first
    iteration and nothing of epoch 1 is replaced."""
    cfg = _config(tmp_path, clip_weights, epochs=3)
    cfg.param_scheduler = [dict(type='MultiStepLR', milestones=[1],
                                gamma=float('nan'), by_epoch=True)]
    runner = Runner.from_cfg(cfg)
    with pytest.raises(NonFiniteError) as info:
        runner.train()
    assert str(info.value) == (
        'non-finite parameter prompt_learner.ctx (nan in 128 of 128 values) '
        f'after the update at iteration {ITERS_PER_EPOCH + 1} (epoch 2): '
        f'{KEPT}; {LR_HINT}')
    work = Path(cfg.work_dir)
    assert sorted(p.name for p in work.glob('*.pth')) == [
        'epoch_1.pth', 'prompt_epoch_1.pth', 'prompt_latest.pth']
    assert (work / 'last_checkpoint').read_text().strip().endswith(
        'epoch_1.pth')
    good = _ctx(work / 'prompt_epoch_1.pth')
    assert torch.isfinite(good).all()
    assert torch.equal(_ctx(work / 'prompt_latest.pth'), good)


def test_first_step_nan_loss_says_no_update_happened(tmp_path,
                                                      clip_weights):
    """A loss that is NaN before any update is not the learning rate."""
    cfg = _config(tmp_path, clip_weights)
    cfg.model.loss.loss_weight = float('nan')
    runner = Runner.from_cfg(cfg)
    with pytest.raises(NonFiniteError) as info:
        runner.train()
    assert str(info.value) == (
        f'non-finite loss (nan) at iteration 1 (epoch 1): {KEPT}; it is the '
        'first step of the run, before any update: check the data, the CLIP '
        'and prompt weights and the loss settings')
    assert not list(Path(cfg.work_dir).glob('*.pth'))


# -- the hooks on their own ---------------------------------------------------
class _Tiny(torch.nn.Module):
    def __init__(self, ctx):
        super().__init__()
        self.prompt_learner = torch.nn.Module()
        self.prompt_learner.ctx = torch.nn.Parameter(ctx)
        self.frozen = torch.nn.Parameter(torch.ones(3), requires_grad=False)
        # an attention mask: -inf is a legitimate buffer value
        self.register_buffer('attn_mask', torch.full((2, 2), -float('inf')))


def _runner(model, work_dir, it=5, epoch=0):
    return SimpleNamespace(model=model, work_dir=str(work_dir), iter=it,
                           epoch=epoch, train_loop=object(),
                           logger=SimpleNamespace(info=lambda *a: None))


def test_nan_weights_are_refused_before_training(tmp_path):
    model = _Tiny(torch.zeros(N_CTX, WIDTH))
    model.frozen.data[1] = float('inf')  # e.g. a broken CLIP file
    with pytest.raises(NonFiniteError) as info:
        NonFiniteCheckHook().before_train(_runner(model, tmp_path))
    assert str(info.value) == (
        'non-finite parameter frozen (inf in 1 of 3 values) before '
        'training: the model was built or loaded with NaN/Inf weights; '
        'nothing was trained or written; check load_from, --resume and the '
        'prompt and CLIP checkpoint files')


def test_checkpoint_with_nan_is_not_written(tmp_path):
    model = _Tiny(torch.zeros(N_CTX, WIDTH))
    hook = NonFiniteCheckHook()
    runner = _runner(model, tmp_path)
    meta = {'epoch': 2, 'iter': 12}
    # finite parameters and a -inf mask buffer: saved as usual
    hook.before_save_checkpoint(runner, {'meta': meta,
                                         'state_dict': model.state_dict()})
    state = dict(model.state_dict())
    state['prompt_learner.ctx'] = torch.full((N_CTX, WIDTH), float('nan'))
    with pytest.raises(NonFiniteError) as info:
        hook.before_save_checkpoint(runner, {'meta': meta,
                                             'state_dict': state})
    assert str(info.value) == (
        "refusing to write the checkpoint of epoch 2 (iteration 12): "
        "state_dict['prompt_learner.ctx'] holds nan in 128 of 128 values; "
        'training stopped and the files already written are kept')
    momentum = {'state': {0: {'momentum_buffer': torch.tensor(
        [1.0, float('inf')])}}, 'param_groups': [{'lr': 0.1}]}
    with pytest.raises(NonFiniteError) as info:
        hook.before_save_checkpoint(runner, {
            'meta': meta, 'state_dict': model.state_dict(),
            'optimizer': momentum})
    assert str(info.value) == (
        "refusing to write the checkpoint of epoch 2 (iteration 12): "
        "optimizer['state'][0]['momentum_buffer'] holds inf in 1 of 2 "
        'values; training stopped and the files already written are kept')


def test_prompt_hook_keeps_the_last_good_prompt(tmp_path):
    good = tmp_path / 'prompt_latest.pth'
    save_prompt(str(good), torch.ones(N_CTX, WIDTH), epoch=1)
    before = good.read_bytes()
    ctx = torch.zeros(N_CTX, WIDTH)
    ctx[0, :3] = float('nan')
    ctx[1, 0] = float('inf')
    model = _Tiny(ctx)
    checkpoint = {'meta': {'epoch': 2, 'iter': 12},
                  'state_dict': model.state_dict()}
    with pytest.raises(NonFiniteError) as info:
        PromptCheckpointHook().before_save_checkpoint(
            _runner(model, tmp_path), checkpoint)
    assert str(info.value) == (
        'PromptCheckpointHook: prompt_learner.ctx holds nan and inf in 4 of '
        '128 values; prompt_iter_12.pth and prompt_latest.pth were not '
        'written (the files already there are kept) and training stopped')
    assert good.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['prompt_latest.pth']


def test_non_finite_summary():
    assert non_finite_summary(torch.ones(3)) == ''
    assert non_finite_summary(torch.arange(3)) == ''  # integers
    assert non_finite_summary(torch.tensor(float('nan'))) == 'nan'
    assert non_finite_summary(torch.tensor(
        [1.0, -float('inf'), float('nan')]).half()) == \
        'nan and -inf in 2 of 3 values'


# -- K / N settings whose loss is undefined -----------------------------------
ONE_CLASS = ('num_classes_per_step=None with a training vocabulary of N=1 '
             'distinct class name(s): no class is left to be a negative '
             '(the local correction is log(N-1) = log 0); expected at least '
             '2 distinct class names')
K2 = ('num_classes_per_step=2 with correction=True: a view whose one drawn '
      'negative is its own class has no negative left and its correction '
      '-log(0) is infinite; expected num_classes_per_step >= 3, None (full '
      'softmax) or correction=False')


def test_one_class_full_softmax_is_refused():
    with pytest.raises(UndefinedLossError) as info:
        PompLoss(num_classes_per_step=None).sample(1)
    assert str(info.value) == ONE_CLASS
    with pytest.raises(UndefinedLossError) as info:
        PompLoss(num_classes_per_step=None, correction=False).sample(1)
    assert str(info.value) == (
        'num_classes_per_step=None with a training vocabulary of N=1 '
        'distinct class name(s): no class is left to be a negative (the one '
        'logit left gives a loss of 0 and nothing trains); expected at '
        'least 2 distinct class names')


def test_one_distinct_name_is_refused_before_any_update():
    """Two classes named alike are one prompt (cls/model.py merges them):
    N = 1 distinct name, refused when the training vocabulary is set."""
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    cfg = dict(
        type='PromptCLIPClassifier',
        prompt_learner=dict(type='PompPromptLearner', n_ctx=N_CTX,
                            clip=dict(type='FrozenCLIP',
                                      model_name='pomp-test-vit')),
        loss=dict(type='PompLoss', num_classes_per_step=None, seed=0),
        train_vocabulary=['cat', 'cat'])
    with pytest.raises(UndefinedLossError) as info:
        MODELS.build(cfg)
    assert str(info.value).endswith(ONE_CLASS)  # after MMEngine's prefix
    model = MODELS.build({**cfg, 'train_vocabulary': None})
    with pytest.raises(UndefinedLossError) as info:  # e.g. VocabularyHook
        model.set_vocabulary(['cat', 'cat'], 'train')
    assert str(info.value) == ONE_CLASS


def test_k_2_with_correction_is_refused_at_build():
    with pytest.raises(UndefinedLossError) as info:
        PompLoss(num_classes_per_step=2)
    assert str(info.value) == K2
    # without the correction K=2 is defined (one negative, masked if own)
    loss_fn = PompLoss(num_classes_per_step=2, correction=False, seed=0)
    feats = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    labels = torch.tensor([0, 1, 2, 3])
    negs = torch.tensor([2])  # view 2's own class: its only negative
    loss = loss_fn(feats, feats, feats[negs], labels, negs, 10.0, 5)
    assert torch.isfinite(loss)


def test_one_class_dataset_through_train_py_is_one_line(tmp_path,
                                                        clip_weights):
    """The issue's case: a one-class full softmax exited 0 with NaN ctx."""
    cfg = _config(tmp_path, clip_weights)
    one = tmp_path / 'one_class'
    (one / 'cat').mkdir(parents=True)
    for i, png in enumerate(sorted(Path(cfg.train_dataloader.dataset
                                        .data_root).rglob('*.png'))[:4]):
        (one / 'cat' / f'{i}.png').write_bytes(png.read_bytes())
    cfg.train_dataloader.dataset.data_root = str(one)
    cfg.dump(str(tmp_path / 'run.py'))
    with pytest.raises(SystemExit) as info:
        engine_train.main([
            str(tmp_path / 'run.py'), '--work-dir', cfg.work_dir,
            '--cfg-options', 'model.loss.num_classes_per_step=None'])
    assert str(info.value.code) == f'train.py: error: {ONE_CLASS}'
    assert not list(Path(cfg.work_dir).glob('*.pth'))


def test_pomp_logits_refuses_an_undefined_correction():
    feats = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1)
    labels = torch.tensor([0, 1])
    with pytest.raises(UndefinedLossError) as info:
        pomp_logits(feats, feats, feats[:1], labels, torch.tensor([0]),
                    10.0, 5)
    assert str(info.value) == (
        "local correction with 1 drawn negative(s) and N=5 classes is "
        "undefined (log 0 when a view's own class is the only one drawn, or "
        'N-1 = 0); expected N >= 2 and at least 2 drawn negatives, or '
        'correction=False')


@pytest.mark.parametrize('k', [2.5, '3', True])
def test_k_must_be_an_integer(k):
    with pytest.raises(ValueError) as info:
        PompLoss(num_classes_per_step=k)
    assert str(info.value) == (f'num_classes_per_step={k!r}: expected an '
                               'integer >= 3, or None for the full softmax')


# -- dump_text_features -------------------------------------------------------
@pytest.fixture
def dump_inputs(tmp_path, tiny_clip):
    classes = tmp_path / 'classes.txt'
    classes.write_text('cat\ndog\n', encoding='utf-8')
    out = tmp_path / 'feats.npy'
    out.write_bytes(b'previous good file')

    def clip_file(scale_projection):
        state = {k: v.clone() for k, v in tiny_clip.model.state_dict().items()}
        state['text_projection'] *= scale_projection
        path = tmp_path / f'clip_{scale_projection}.pt'
        torch.save(state, path)
        return str(path)

    return SimpleNamespace(classes=str(classes), out=out, clip_file=clip_file)


def _dump(inputs, clip, *extra):
    with pytest.raises(SystemExit) as info:
        dump_cli.main([
            '--model', 'pomp-test-vit', '--clip-checkpoint', clip,
            '--classes', inputs.classes, '--out', str(inputs.out), *extra])
    assert info.value.code == 2


def test_dump_refuses_nan_features(dump_inputs, capsys):
    _dump(dump_inputs, dump_inputs.clip_file(float('nan')))
    assert capsys.readouterr().err == (
        "dump_text_features: error: the features hold NaN/Inf (2 of 2 rows, "
        f"first class 'cat'); nothing written to {dump_inputs.out}; check "
        'the --prompt and --clip-checkpoint files for NaN/Inf values\n')
    assert dump_inputs.out.read_bytes() == b'previous good file'


def test_dump_refuses_float16_overflow(dump_inputs, capsys):
    _dump(dump_inputs, dump_inputs.clip_file(1e9), '--dtype', 'float16')
    assert capsys.readouterr().err == (
        "dump_text_features: error: the features overflow float16 (2 of 2 "
        "rows, first class 'cat': values beyond 65504); nothing written to "
        f'{dump_inputs.out}; use --dtype float32 or --normalize\n')
    assert dump_inputs.out.read_bytes() == b'previous good file'


@pytest.mark.slow  # parses all ~100 configs (~20 s)
def test_every_training_config_checks_for_nan():
    """Every config that trains gets the hook (tools/train.py, mmpretrain's
    tools or Runner.from_cfg alike)."""
    missing = []
    for path in sorted(Path(ROOT, 'configs').rglob('*.py')):
        if '_base_' in path.parts:
            continue
        cfg = Config.fromfile(str(path))
        if not cfg.get('train_dataloader'):
            continue
        types = [h.get('type') for h in cfg.get('custom_hooks', [])]
        if 'NonFiniteCheckHook' not in types:
            missing.append(osp.relpath(path, ROOT))
    assert not missing, missing


def test_ranks_stop_together(tmp_path, monkeypatch):
    """A rank whose own loss and ctx are finite stops when another's are
    not (the verdicts are summed across ranks), instead of hanging in the
    next collective."""
    import pomp_mm.core.hooks as hooks
    reduced = []

    def other_rank_bad(flag):
        reduced.append(float(flag))
        flag += 1  # the other rank's verdict

    monkeypatch.setattr(hooks, 'get_world_size', lambda: 2)
    monkeypatch.setattr(hooks, 'all_reduce', other_rank_bad)
    model = _Tiny(torch.zeros(N_CTX, WIDTH))
    with pytest.raises(NonFiniteError) as info:
        NonFiniteCheckHook().after_train_iter(
            _runner(model, tmp_path), 5, outputs={'loss': torch.tensor(1.)})
    assert reduced == [0.0]
    assert str(info.value) == (
        'non-finite loss or parameters on another process at iteration 6: '
        f'{KEPT}; {LR_HINT}')
