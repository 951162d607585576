"""Reliability: bit-exact resume after SIGKILL, 2-process training against
one process, per-rank seeding, pickle safety of loaded files.

The end-to-end runs use a random tiny CLIP ('pomp-test-vit', 32x32 images)
written to a file and a generated 6-class folder dataset; each takes a few
seconds, most of it imports.
"""
import json
import os
import os.path as osp
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from PIL import Image

import pomp_mm.cls  # noqa: F401  (registers the classifier)
from pomp_mm.core import FrozenCLIP, PompPromptLearner, save_prompt
from pomp_mm.core.checkpoint import mmengine_safe_globals
from pomp_mm.core.hooks import (
    RANDOM_STATE_KEY,
    RandomStateHook,
    capture_random_state,
    restore_random_state,
)
from pomp_mm.engine import train as engine_train

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN = osp.join(ROOT, 'configs', 'pomp', 'pretrain.py')
CLASSES = ['red circle', 'blue square', 'green star', 'black heart',
           'white moon', 'pink cross']

# one thread everywhere (as conftest), so runs in and out of this process
# compute bit-identical floats
ENV = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
           PYTHON=sys.executable,  # dist_train.sh: this interpreter
           PYTHONPATH=os.pathsep.join([ROOT, os.environ.get('PYTHONPATH',
                                                            '')]))

# A hook that parks a run mid-epoch so the test can SIGKILL it there.
STALL_MODULE = '''
import os, time
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class StallHook(Hook):
    def __init__(self, epoch, batch, marker):
        self.epoch, self.batch, self.marker = epoch, batch, marker

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.epoch == self.epoch and batch_idx == self.batch:
            open(self.marker, 'w').close()
            time.sleep(600)
'''


def make_class_folders(root, per_class=4, size=32, seed=0):
    """Six class folders of random-noise PNGs (a different tint each)."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(CLASSES):
        folder = osp.join(root, name.replace(' ', '_'))
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 128, (size, size, 3)) + 16 * c
            Image.fromarray(img.astype(np.uint8)).save(
                osp.join(folder, f'{i}.png'))
    return root


@pytest.fixture(autouse=True)
def _restore_torch_globals():
    """In-process runs set deterministic algorithms and the RNGs."""
    det = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(det)


# -- random states ------------------------------------------------------------
def test_capture_restore_round_trip(tmp_path):
    gen_owner = torch.nn.Module()
    gen_owner.generator = torch.Generator().manual_seed(3)
    model = torch.nn.Sequential(gen_owner)
    torch.randn(3)  # the CUDA state is None here (no GPU initialised)
    state = capture_random_state(model)
    assert set(state['generators']) == {'0.generator'}
    draw = (random.random(), np.random.rand(), torch.rand(2),
            torch.randperm(9, generator=gen_owner.generator))
    random.random(), np.random.rand(), torch.rand(5)
    torch.randperm(9, generator=gen_owner.generator)
    restore_random_state(state, model)
    again = (random.random(), np.random.rand(), torch.rand(2),
             torch.randperm(9, generator=gen_owner.generator))
    assert draw[:2] == again[:2]
    assert torch.equal(draw[2], again[2]) and torch.equal(draw[3], again[3])
    # only tensors and plain values: a weights-only load reads it back
    torch.save(state, tmp_path / 'state.pth')
    back = torch.load(tmp_path / 'state.pth', weights_only=True)
    assert torch.equal(back['numpy'][1], state['numpy'][1])


def test_worker_seed_moves_with_epoch():
    """MMEngine's worker seeds are shifted by epoch*(num_workers+1)*world;
    epoch 0 keeps MMEngine's own seed."""
    from functools import partial
    from types import SimpleNamespace

    from mmengine.dataset import worker_init_fn
    loader = SimpleNamespace(worker_init_fn=partial(
        worker_init_fn, num_workers=3, rank=0, seed=42))
    runner = SimpleNamespace(
        model=torch.nn.Linear(1, 1), epoch=0, iter=0,
        train_loop=SimpleNamespace(dataloader=loader))
    hook = RandomStateHook()
    seeds = []
    for epoch in range(3):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        seeds.append(loader.worker_init_fn.keywords['seed'])
    assert seeds == [42, 46, 50]


# -- exact resume after SIGKILL -----------------------------------------------
def tiny_pretrain_config(data, clip_weights, epochs, workers=0,
                         val_interval=1, deterministic=False):
    """configs/pomp/pretrain.py on the tiny CLIP and the class folders in
    ``data``: K=4, batch 4, seed 7."""
    cfg = Config.fromfile(PRETRAIN)
    cfg.model.prompt_learner.clip = {
        'type': 'FrozenCLIP', 'model_name': 'pomp-test-vit',
        'checkpoint': clip_weights}
    cfg.model.loss.num_classes_per_step = 4
    views = cfg.train_pipeline[1]['transforms'][0]
    views[0]['scale'] = 32  # RandomResizedCrop to the tiny CLIP's 32x32
    for split, pipeline in (('train', cfg.train_pipeline),
                            ('val', cfg.test_pipeline)):
        loader = cfg[f'{split}_dataloader']
        loader.dataset = {'type': 'ClassFolderDataset', 'data_root': data,
                          'pipeline': pipeline}
        loader.batch_size = 4
        loader.num_workers = workers
        loader.persistent_workers = False
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = val_interval
    cfg.param_scheduler[0]['T_max'] = epochs
    cfg.randomness = {'seed': 7, 'deterministic': deterministic}
    cfg.default_hooks.logger.interval = 1
    return cfg


def _resume_configs(tmp, clip_weights, workers, epochs=3):
    """run.py (the run) and kill.py (the same + a stall mid-epoch 2)."""
    data = make_class_folders(str(tmp / 'data'))
    # validation every epoch: it draws between epochs too
    cfg = tiny_pretrain_config(data, clip_weights, epochs, workers,
                               val_interval=1, deterministic=True)
    cfg.dump(str(tmp / 'run.py'))
    (tmp / 'stall.py').write_text(STALL_MODULE)
    cfg.custom_imports.imports.append('stall')
    cfg.custom_hooks.append({'type': 'StallHook', 'epoch': 1, 'batch': 2,
                             'marker': str(tmp / 'stalled')})
    cfg.dump(str(tmp / 'kill.py'))
    assert [h['type'] for h in Config.fromfile(str(tmp / 'run.py'))
            .custom_hooks].count('RandomStateHook') == 1  # the default
    return str(tmp / 'run.py'), str(tmp / 'kill.py')


def _final_ctx(work):
    raw = torch.load(osp.join(work, 'prompt_epoch_3.pth'), weights_only=True)
    return raw['state_dict']['ctx']


def _kill_mid_epoch(kill_cfg, work, marker, tmp):
    env = dict(ENV, PYTHONPATH=os.pathsep.join([str(tmp), ENV['PYTHONPATH']]))
    log = tmp / 'killed_run.log'
    with open(log, 'wb') as out:
        proc = subprocess.Popen(
            [sys.executable, osp.join(ROOT, 'tools', 'train.py'), kill_cfg,
             '--work-dir', work], cwd=ROOT, env=env, start_new_session=True,
            stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    try:
        while not osp.exists(marker):
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail('run ended before the stall point: ' +
                            log.read_text()[-3000:])
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize('workers', [0, 2])
def test_sigkill_then_resume_is_bit_exact(tmp_path, clip_weights, workers):
    run_cfg, kill_cfg = _resume_configs(tmp_path, clip_weights, workers)
    train = engine_train
    killed = str(tmp_path / 'killed')
    _kill_mid_epoch(kill_cfg, killed, str(tmp_path / 'stalled'), tmp_path)
    # killed in epoch 2, after epoch 1's checkpoint
    assert osp.isfile(osp.join(killed, 'epoch_1.pth'))
    assert not osp.exists(osp.join(killed, 'epoch_2.pth'))
    # weights-only readable, with the MMEngine names pomp_mm allows
    with torch.serialization.safe_globals(mmengine_safe_globals()):
        ckpt = torch.load(osp.join(killed, 'epoch_1.pth'), weights_only=True)
    saved = ckpt[RANDOM_STATE_KEY]
    assert saved['world_size'] == 1 and len(saved['ranks']) == 1
    assert saved['data']['samples'] == 24

    train.main([run_cfg, '--work-dir', killed, '--resume'])
    reference = str(tmp_path / 'reference')
    train.main([run_cfg, '--work-dir', reference])
    resumed, unbroken = _final_ctx(killed), _final_ctx(reference)
    assert torch.equal(resumed, unbroken)
    first = torch.load(osp.join(reference, 'prompt_epoch_1.pth'),
                       weights_only=True)['state_dict']['ctx']
    assert not torch.equal(first, unbroken)  # it trained on

    if workers == 0:
        # the control: without the hook the same resume is not exact (the
        # augmentations after the restart come from fresh RNG states)
        cfg = Config.fromfile(run_cfg)
        cfg.custom_hooks = [h for h in cfg.custom_hooks
                            if h['type'] != 'RandomStateHook']
        cfg.dump(str(tmp_path / 'nohook.py'))
        control = str(tmp_path / 'control')
        os.makedirs(control)
        train.main([str(tmp_path / 'nohook.py'), '--work-dir', control,
                    '--resume', osp.join(killed, 'epoch_1.pth')])
        assert not torch.equal(_final_ctx(control), unbroken)


# -- distributed: 2 gloo processes against one --------------------------------
PROBE_MODULE = '''
import json, os
import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class ProbeHook(Hook):
    """Writes what each rank trains on, its seeds and its final ctx."""
    priority = 'LOWEST'

    def before_train(self, runner):
        dataset = runner.train_loop.dataloader.dataset
        self.info = dict(
            data=[[os.path.relpath(d['img_path'], dataset.data_root),
                   int(d['gt_label'])]
                  for d in map(dataset.get_data_info, range(len(dataset)))],
            torch_seed=torch.initial_seed(),
            numpy_key=int(np.random.get_state()[1][0]))

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) \\
            else runner.model
        torch.save(model.prompt_learner.ctx.detach().clone(),
                   os.path.join(runner.work_dir, f'ctx_rank{get_rank()}.pt'))
        with open(os.path.join(runner.work_dir,
                               f'probe_rank{get_rank()}.json'), 'w') as f:
            json.dump(self.info, f)
'''
DIST = {'shots': 2, 'per_class': 3, 'batch': 3, 'epochs': 2, 'lr': 0.5,
        'sampler_seed': 3, 'loss_seed': 11, 'k': 4}


def _dist_config(tmp, clip_weights):
    """A 2-epoch run: 6 classes x 2 shots, 3 images per rank and step."""
    data = make_class_folders(str(tmp / 'data'), per_class=DIST['per_class'])
    init = str(tmp / 'init_prompt.pth')
    save_prompt(init, 0.02 * torch.randn(
        4, 32, generator=torch.Generator().manual_seed(5)))
    cfg = Config.fromfile(PRETRAIN)
    cfg.model.prompt_learner = {
        'type': 'PompPromptLearner', 'n_ctx': 4, 'prompt_checkpoint': init,
        'clip': {'type': 'FrozenCLIP', 'model_name': 'pomp-test-vit',
                 'checkpoint': clip_weights}}
    cfg.model.loss = {'type': 'PompLoss', 'num_classes_per_step': DIST['k'],
                      'seed': DIST['loss_seed']}
    pipeline = [{'type': 'LoadImageFromFile'}, {'type': 'PackInputs'}]
    cfg.train_dataloader.dataset = {
        'type': 'ClassFolderDataset', 'data_root': data,
        'num_shots': DIST['shots'], 'seed': 42, 'pipeline': pipeline}
    cfg.train_dataloader.batch_size = DIST['batch']
    cfg.train_dataloader.sampler = {'type': 'DefaultSampler', 'shuffle': True,
                                    'seed': DIST['sampler_seed']}
    cfg.val_dataloader.dataset = cfg.train_dataloader.dataset
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.max_epochs = DIST['epochs']
    cfg.optim_wrapper.optimizer.lr = DIST['lr']
    cfg.param_scheduler = None
    cfg.custom_imports.imports.append('probe')
    cfg.custom_hooks.append({'type': 'ProbeHook'})
    (tmp / 'probe.py').write_text(PROBE_MODULE)
    cfg.dump(str(tmp / 'dist.py'))
    return str(tmp / 'dist.py'), data, init


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _dist_train(tmp, config, work, *extra):
    env = dict(ENV, PORT=str(_free_port()),
               PYTHONPATH=os.pathsep.join([str(tmp), ENV['PYTHONPATH']]))
    proc = subprocess.Popen(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), config, '2',
         '--work-dir', work, '--no-validate', *extra], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both ranks
        out, _ = proc.communicate()
        pytest.fail(f'2-process run timed out: {out[-3000:]}')
    assert proc.returncode == 0, out[-4000:]


def _hand_fewshot(data_root, shots, seed):
    """Dassl's rule: labels in order, random.Random(seed).sample per label
    of the sorted paths; the subset sorted by (label, path)."""
    rng = random.Random(seed)
    folders = sorted(os.listdir(data_root))
    folders = [f for f in folders if osp.isdir(osp.join(data_root, f))
               and f != 'split_fewshot']
    subset = []
    for label, folder in enumerate(folders):
        paths = sorted(f'{folder}/{n}' for n in os.listdir(
            osp.join(data_root, folder)))
        subset += [(p, label) for p in rng.sample(paths, shots)]
    names = [f.replace('_', ' ') for f in folders]
    return sorted(subset, key=lambda s: (s[1], s[0])), names


def _reference_ctx(clip_weights, init, data_root, shared_negatives=False,
                   dtype=torch.float32):
    """The 2-process run computed here by hand: each rank's shard of
    DefaultSampler's permutation, each rank's own K-1 negatives, the POMP
    loss per rank, the gradients averaged (DDP), torch's SGD step; in
    ``dtype`` (float64: the exact answer to float32's rounding)."""
    subset, names = _hand_fewshot(data_root, DIST['shots'], 42)
    clip = FrozenCLIP('pomp-test-vit', checkpoint=clip_weights).to(dtype)
    learner = PompPromptLearner(clip, vocabulary=names,
                                prompt_checkpoint=init).to(dtype)
    mean = torch.tensor([122.770938, 116.7460125, 104.09373615]).view(3, 1, 1)
    std = torch.tensor([68.5005327, 66.6321579, 70.32316305]).view(3, 1, 1)
    with torch.no_grad():
        pixels = torch.stack([
            torch.from_numpy(np.array(Image.open(osp.join(data_root, p))
                                        .convert('RGB'))).permute(2, 0, 1)
            for p, _ in subset]).to(dtype)
        feats = F.normalize(clip.encode_image((pixels - mean) / std), dim=-1)
    labels = torch.tensor([lab for _, lab in subset])
    n, world, m = len(names), 2, DIST['k'] - 1
    gens = [torch.Generator().manual_seed(
        DIST['loss_seed'] + (0 if shared_negatives else r))
        for r in range(world)]
    opt = torch.optim.SGD([learner.ctx], lr=DIST['lr'], momentum=0.9,
                          weight_decay=5e-4)
    scale = clip.logit_scale
    for epoch in range(DIST['epochs']):
        perm = torch.randperm(
            len(subset), generator=torch.Generator().manual_seed(
                DIST['sampler_seed'] + epoch)).tolist()
        shards = [perm[r::world] for r in range(world)]
        for step in range(len(shards[0]) // DIST['batch']):
            grads = []
            for r in range(world):
                idx = shards[r][step * DIST['batch']:(step + 1) *
                                DIST['batch']]
                neg = torch.randperm(n, generator=gens[r])[:m]
                text = learner(torch.arange(n), normalize=True)
                f, y = feats[idx], labels[idx]
                pos = scale * (f * text[y]).sum(-1, keepdim=True)
                hit = (neg[None] == y[:, None]).float()
                negl = scale * f @ text[neg].t() - 1e6 * hit + \
                    np.log(n - 1) - torch.log(m - hit.sum(1, keepdim=True))
                logits = torch.cat([pos, negl], 1)
                loss = (torch.logsumexp(logits, 1) - logits[:, 0]).mean()
                grads.append(torch.autograd.grad(loss, learner.ctx)[0])
            opt.zero_grad()
            learner.ctx.grad = sum(grads) / world
            opt.step()
    return learner.ctx.detach()


@pytest.mark.slow
def test_two_process_training_matches_one_process_and_resumes(
        tmp_path, clip_weights):
    config, data_root, init = _dist_config(tmp_path, clip_weights)
    work = str(tmp_path / 'dist')
    _dist_train(tmp_path, config, work)
    probes = [json.loads(Path(work, f'probe_rank{r}.json').read_text())
              for r in range(2)]
    # the few-shot subset: identical on both ranks, and Dassl's rule
    subset, _ = _hand_fewshot(data_root, DIST['shots'], 42)
    assert probes[0]['data'] == probes[1]['data'] == [list(s)
                                                      for s in subset]
    # per-rank seeds: seed + rank for the augmentation RNGs
    assert [p['torch_seed'] for p in probes] == [42, 43]
    assert [p['numpy_key'] for p in probes] == [
        int(np.random.RandomState(s).get_state()[1][0]) for s in (42, 43)]
    ctx = [torch.load(osp.join(work, f'ctx_rank{r}.pt')) for r in range(2)]
    assert torch.equal(ctx[0], ctx[1])  # DDP kept the ranks in step
    saved = torch.load(osp.join(work, 'prompt_latest.pth'),
                       weights_only=True)['state_dict']['ctx']
    assert torch.equal(saved, ctx[0])

    # Two float32 computations of the same steps in different reduction
    # orders (allreduce, per-rank batches vs one process) agree only up to
    # float32 rounding, which differs across CPUs. The bound is measured,
    # not tuned: the float32 reference's own error against float64 (the
    # exact answer, to float32's precision), times a margin for the other
    # order, floored at a few ulps of ctx.
    exact = _reference_ctx(clip_weights, init, data_root,
                           dtype=torch.float64)
    want = _reference_ctx(clip_weights, init, data_root)
    ulp = torch.finfo(torch.float32).eps * exact.abs().max().item()
    rounding = max((want.double() - exact).abs().max().item(), 4 * ulp)
    tol = 16 * rounding
    err = (saved.double() - exact).abs().max().item()
    print(f'2-process ctx: error {err:.2e}, float32 reference error '
          f'{rounding:.2e}, bound {tol:.2e}')
    assert err <= tol
    # control: the same steps with one negative draw shared by the ranks
    # differ by far more than the rounding bound
    shared = _reference_ctx(clip_weights, init, data_root,
                            shared_negatives=True)
    assert (shared - want).abs().max() > 1e-3 > 10 * tol

    # resume both ranks from epoch 1: each rank gets back its own sampler
    # state (the state_dict only holds rank 0's), so the end is identical
    resumed = str(tmp_path / 'resumed')
    _dist_train(tmp_path, config, resumed, '--resume',
                osp.join(work, 'epoch_1.pth'))
    assert torch.equal(torch.load(osp.join(resumed, 'ctx_rank1.pt')), saved)


# -- multi-GPU example configs (untested without GPUs: they must parse) -------
@pytest.mark.parametrize('name,runner,wrapper', [
    ('ddp', None, 'MMDistributedDataParallel'),
    ('fsdp', 'FlexibleRunner', 'FSDPStrategy'),
    ('deepspeed', 'FlexibleRunner', 'DeepSpeedStrategy'),
])
def test_distributed_configs_parse(name, runner, wrapper):
    from mmengine.registry import MODEL_WRAPPERS, RUNNERS, STRATEGIES
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'pomp', 'dist',
        f'pomp_vit-b16_nctx4_ep5_in21k_{name}.py'))
    assert cfg.get('runner_type') == runner
    assert cfg.train_cfg.max_epochs == 5 and \
        cfg.model.prompt_learner.n_ctx == 4  # the paper recipe underneath
    assert 'RandomStateHook' in [h['type'] for h in cfg.custom_hooks]
    if runner is None:
        assert cfg.model_wrapper_cfg.type == wrapper
        assert MODEL_WRAPPERS.get(wrapper) is not None
        assert cfg.train_dataloader.persistent_workers is False
        return
    assert RUNNERS.get(runner) is not None
    assert cfg.strategy.type == wrapper and STRATEGIES.get(wrapper)
    if name == 'fsdp':
        assert MODEL_WRAPPERS.get(cfg.strategy.model_wrapper.type)
        assert cfg.strategy.state_dict_cfg == 'full'
    else:
        assert cfg.optim_wrapper.type == 'DeepSpeedOptimWrapper'
        assert set(cfg.optim_wrapper) == {'type', 'optimizer'}


# -- security: nothing loaded by pomp_mm unpickles code -----------------------
class _Payload:
    """Creates the folder ``marker`` if the file it is in gets unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _mmengine_like(ctx, *extra):
    """What MMEngine writes: meta, state_dict, a message hub of numpy-backed
    HistoryBuffers (pickled objects) and optimizer state."""
    from mmengine.logging.history_buffer import HistoryBuffer
    hub = {'log_scalars': {'train/loss': HistoryBuffer([0.5, 0.25], [1, 1])},
           'runtime_info': {'epoch': 1, 'iter': 2}}
    obj = {'meta': {'epoch': 1, 'iter': 2, 'seed': 42},
           'message_hub': hub,
           'state_dict': {'prompt_learner.ctx': ctx},
           'optimizer': {'state': {0: {'momentum_buffer': ctx * 0}}}}
    for i, item in enumerate(extra):
        obj[f'extra{i}'] = item
    return obj


def test_loaded_files_refuse_pickled_code(tmp_path):
    from pomp_mm.core import load_prompt_ctx, read_clip_state_dict
    from pomp_mm.datasets import load_tree_descriptions
    from pomp_mm.det.zero_shot_classifier import PompZeroShotClassifier
    marker = str(tmp_path / 'pwned')
    ctx = torch.randn(4, 32)
    files = {}
    for name, obj in {
            'prompt': {'state_dict': {'ctx': ctx}, 'x': _Payload(marker)},
            # pickled MMEngine objects first, the payload after: the file
            # passes for an MMEngine checkpoint until the payload
            'mmengine_lookalike': _mmengine_like(ctx, _Payload(marker)),
            'clip': {'visual.proj': ctx, 'x': _Payload(marker)},
            'tree': {'class_description': {'n01': 'cat'},
                     'x': _Payload(marker)}}.items():
        files[name] = str(tmp_path / f'{name}.pth')
        torch.save(obj, files[name])
    for name in ('prompt', 'mmengine_lookalike'):
        with pytest.raises(ValueError, match='posix.mkdir.*weights-only'):
            load_prompt_ctx(files[name])
    with pytest.raises(ValueError, match='cannot read CLIP checkpoint'):
        read_clip_state_dict(files['clip'])
    with pytest.raises(ValueError):
        load_tree_descriptions(files['tree'])
    feats = str(tmp_path / 'feats.npy')  # a feature file of pickled objects
    np.save(feats, np.array([_Payload(marker)], dtype=object),
            allow_pickle=True)
    with pytest.raises(ValueError, match='allow_pickle'):
        PompZeroShotClassifier._load_npy(feats)
    assert not osp.exists(marker)
    # a real MMEngine checkpoint still loads, weights-only (allowed names)
    torch.save(_mmengine_like(ctx), files['prompt'])
    assert torch.equal(load_prompt_ctx(files['prompt']), ctx)


def test_no_global_pickle_switch(tmp_path):
    """Importing pomp_mm (and what tools/train.py calls) leaves torch.load
    alone: its default stays weights-only; only MMEngine's own checkpoint
    module gets a loader that unpickles (for --resume / load_from)."""
    import inspect

    import mmengine.runner.checkpoint as mm_ckpt

    import pomp_mm.core
    import pomp_mm.engine.train  # noqa: F401  (what tools/train.py imports)
    pomp_mm.core.patch_mmengine_checkpoint_loading()
    assert torch.load is torch.serialization.load
    assert inspect.signature(torch.load).parameters[
        'weights_only'].default is None  # None = True since torch 2.6
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    assert mm_ckpt.torch.load is not torch.load  # the targeted loader
    marker = str(tmp_path / 'pwned')
    path = str(tmp_path / 'x.pth')
    torch.save(_mmengine_like(torch.zeros(2), _Payload(marker)), path)
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path)
    # the allow-list of MMEngine names is used in a scope, never globally
    from pomp_mm.core import load_prompt_ctx
    torch.save(_mmengine_like(torch.zeros(4, 32)), path)
    before = {str(g) for g in torch.serialization.get_safe_globals()}
    load_prompt_ctx(path)
    assert {str(g) for g in torch.serialization.get_safe_globals()} == before
    assert not [g for g in before if 'HistoryBuffer' in g or
                'ndarray' in g or 'getattr' in g]
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path)
    assert not osp.exists(marker)
