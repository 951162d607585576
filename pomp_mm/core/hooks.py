"""Hooks shared by every task: prompt files, vocabularies, random states,
NaN/Inf checks."""
import functools
import hashlib
import logging
import os.path as osp
import random
from typing import Any, Iterable, Optional, Tuple

import numpy as np
import torch
from mmengine.dataset import worker_init_fn as mmengine_worker_init_fn
from mmengine.dist import (
    all_gather_object,
    all_reduce,
    get_rank,
    get_world_size,
    is_main_process,
)
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

from .checkpoint import save_prompt
from .utils import unwrap_model
from .vocabulary import offer_dataset_vocabulary


class NonFiniteError(RuntimeError):
    """A loss, a parameter or a tensor about to be saved holds NaN or Inf.

    Raised by :class:`NonFiniteCheckHook` and :class:`PromptCheckpointHook`
    to stop a run before a diverged model reaches any file; the message is
    one line (``tools/train.py`` prints it as ``train.py: error: ...``).
    """


def non_finite_summary(tensor: torch.Tensor) -> str:
    """What non-finite values a tensor holds, '' if none.

    Args:
        tensor (Tensor): Any tensor; non-floating ones are always finite.

    Returns:
        str: ``''``, or e.g. ``'nan'`` (one value), ``'nan in 3 of 128
        values'`` or ``'nan and inf in 128 of 128 values'``.
    """
    t = tensor.detach()
    if not t.is_floating_point():
        return ''
    bad = int((~torch.isfinite(t)).sum())
    if bad == 0:
        return ''
    kinds = ' and '.join(
        name for name, found in (('nan', torch.isnan(t)),
                                 ('inf', torch.isposinf(t)),
                                 ('-inf', torch.isneginf(t))) if found.any())
    return kinds if t.numel() == 1 else \
        f'{kinds} in {bad} of {t.numel()} values'


def _first_non_finite(named: Iterable[Tuple[str, torch.Tensor]]
                      ) -> Optional[Tuple[str, str]]:
    """``(name, summary)`` of the first non-finite tensor, else None.

    All tensors are tested with one device sync; only when one is bad are
    they walked again to name it.
    """
    named = [(n, t) for n, t in named if t.is_floating_point()]
    if not named:
        return None
    flags = [torch.isfinite(t.detach()).all() for _, t in named]
    if bool(torch.stack([f.to(flags[0].device) for f in flags]).all()):
        return None
    for name, t in named:
        summary = non_finite_summary(t)
        if summary:
            return name, summary
    return None  # pragma: no cover - flags said one is bad


def _tensors(obj: Any, prefix: str) -> Iterable[Tuple[str, torch.Tensor]]:
    """``(path, tensor)`` for every tensor nested in dicts/lists of obj."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _tensors(value, f'{prefix}[{key!r}]')
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _tensors(value, f'{prefix}[{i}]')


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Stop training at the first NaN/Inf loss or parameter.

    A diverging run (too large a learning rate) or a degenerate loss would
    otherwise go on for epochs, write NaN into every checkpoint and prompt
    file and exit 0. This hook raises :class:`NonFiniteError`, naming the
    iteration (and epoch), when

    * before training, any parameter of the model (learned or frozen) is
      non-finite: NaN/Inf weights were built or loaded (``load_from``,
      ``--resume``, a prompt or CLIP file);
    * after a training iteration, any loss the model returned (every
      ``outputs`` key containing ``'loss'``) or any parameter that requires
      grad is non-finite (the prompt ``ctx`` is a few KB; the check is one
      device sync per iteration);
    * a checkpoint is about to be written with a non-finite parameter or
      optimizer-state tensor, or a buffer holding NaN or +inf (``-inf`` is
      allowed in buffers: attention masks hold it). A backstop: the checks
      above normally stop the run first.

    Its priority runs it before the checkpoint hooks in every stage, so the
    files already written stay the last good ones and none is replaced by
    a non-finite one. In a distributed run the ranks' verdicts are summed
    (one all-reduce per iteration), so every rank stops at the same
    iteration.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._first_iter = 0

    @staticmethod
    def _model(runner) -> torch.nn.Module:
        return unwrap_model(runner.model)

    @staticmethod
    def _where(runner) -> str:
        """'iteration 3 (epoch 1)': the iteration just run, 1-based."""
        where = f'iteration {runner.iter + 1}'
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            where += f' (epoch {runner.epoch + 1})'
        return where

    def before_train(self, runner) -> None:
        self._first_iter = runner.iter
        bad = _first_non_finite(self._model(runner).named_parameters())
        if bad is not None:
            name, summary = bad
            raise NonFiniteError(
                f'non-finite parameter {name} ({summary}) before training: '
                'the model was built or loaded with NaN/Inf weights; nothing '
                'was trained or written; check load_from, --resume and the '
                'prompt and CLIP checkpoint files')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        problem = self._check_iteration(runner, outputs or {})
        if get_world_size() > 1:  # every rank stops at the same iteration
            flag = torch.tensor([float(problem is not None)])
            all_reduce(flag)
            if problem is None and float(flag) > 0:
                problem = 'non-finite loss or parameters on another process'
        if problem is None:
            return
        if problem.startswith('non-finite loss') and \
                runner.iter == self._first_iter:  # before any update
            hint = ('it is the first step of the run, before any update: '
                    'check the data, the CLIP and prompt weights and the '
                    'loss settings')
        else:
            hint = ('lower the learning rate (optim_wrapper.optimizer.lr) or '
                    'clip gradients (optim_wrapper.clip_grad)')
        raise NonFiniteError(
            f'{problem} at {self._where(runner)}: training stopped; the '
            f'checkpoints and prompt files already written are kept; {hint}')

    def _check_iteration(self, runner, outputs: dict) -> Optional[str]:
        """What is non-finite after this iteration (``'non-finite loss
        (nan)'``, ``'non-finite parameter ... after the update'``), or
        None."""
        for key, value in outputs.items():
            if 'loss' in key and isinstance(value, torch.Tensor):
                summary = non_finite_summary(value)
                if summary:
                    return f'non-finite {key} ({summary})'
        learned = ((n, p) for n, p in self._model(runner).named_parameters()
                   if p.requires_grad)
        bad = _first_non_finite(learned)
        if bad is not None:
            return (f'non-finite parameter {bad[0]} ({bad[1]}) after the '
                    'update')
        return None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        params = {n for n, _ in self._model(runner).named_parameters()}
        state = checkpoint.get('state_dict', {})
        found = None
        for key, value in state.items():
            if not isinstance(value, torch.Tensor):
                continue
            summary = non_finite_summary(value)
            if summary and (key in params or bool(
                    torch.isnan(value).any() or torch.isposinf(value).any())):
                found = f'state_dict[{key!r}] holds {summary}'
                break
        if found is None:
            bad = _first_non_finite(_tensors(checkpoint.get('optimizer', {}),
                                             'optimizer'))
            if bad is not None:
                found = f'{bad[0]} holds {bad[1]}'
        if found is None:
            return
        meta = checkpoint.get('meta', {})
        raise NonFiniteError(
            f'refusing to write the checkpoint of epoch {meta.get("epoch")} '
            f'(iteration {meta.get("iter")}): {found}; training stopped and '
            'the files already written are kept')


@HOOKS.register_module()
class PromptCheckpointHook(Hook):
    """Write a prompt-only file beside each MMEngine checkpoint.

    Whenever the runner saves ``epoch_{n}.pth`` (or ``iter_{n}.pth``) this
    hook writes ``prompt_epoch_{n}.pth`` (``prompt_iter_{n}.pth``) in the
    official POMP format, ``{'state_dict': {'ctx': ...}, 'epoch': n}``, plus
    ``prompt_latest.pth``. These few-KB files are what the downstream task
    configs load. Its ``meta`` describes the prompt
    (:meth:`~pomp_mm.core.PompPromptLearner.prompt_meta`: CLIP model and
    weights fingerprint, width, n_ctx, class-token position, CSC, context
    length, tokenizer, training vocabulary size and hash, pomp_mm version)
    and holds the run's config text; loading checks it against the CLIP the
    prompt goes into. Files are written to a temp name, then renamed. A ctx
    holding NaN or Inf is never written: :class:`NonFiniteError` stops the
    save (the MMEngine checkpoint too), so the previous files stay.

    Args:
        key (str): Suffix of the state-dict key holding the prompt.
            Defaults to ``'prompt_learner.ctx'``.
        out_dir (str, optional): Folder for the files; defaults to the
            runner's ``work_dir``.
    """

    priority = 'VERY_LOW'

    def __init__(self,
                 key: str = 'prompt_learner.ctx',
                 out_dir: str | None = None) -> None:
        self.key = key
        self.out_dir = out_dir

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not is_main_process():
            return
        state = checkpoint.get('state_dict', {})
        keys = [k for k in state if k == self.key or
                k.endswith('.' + self.key)]
        if not keys and self._frozen_prompt_file(runner):
            return  # a frozen prompt file is not saved: it is the file
        if len(keys) != 1:
            print_log(f'PromptCheckpointHook: found {len(keys)} keys ending '
                      f'with {self.key!r}; no prompt file written',
                      logger='current', level=30)
            return
        meta = checkpoint.get('meta', {})
        epoch, it = int(meta.get('epoch', 0)), int(meta.get('iter', 0))
        by_epoch = isinstance(runner.train_loop, EpochBasedTrainLoop)
        name = f'prompt_epoch_{epoch}.pth' if by_epoch else \
            f'prompt_iter_{it}.pth'
        out_dir = self.out_dir or runner.work_dir
        ctx = state[keys[0]]
        info = {'iter': it, 'key': keys[0],
                'n_ctx': int(ctx.shape[-2]), 'width': int(ctx.shape[-1])}
        info.update(self._learner_meta(runner, keys[0]))
        path = osp.join(out_dir, name)
        summary = non_finite_summary(ctx)
        if summary:
            raise NonFiniteError(
                f'PromptCheckpointHook: {keys[0]} holds {summary}; {name} and'
                ' prompt_latest.pth were not written (the files already '
                'there are kept) and training stopped')
        save_prompt(path, ctx, epoch=epoch, meta=info)
        save_prompt(osp.join(out_dir, 'prompt_latest.pth'), ctx,
                    epoch=epoch, meta=info)
        runner.logger.info(f'prompt saved to {path}')

    def _frozen_prompt_file(self, runner) -> bool:
        """Every learner whose ctx the key names is a frozen prompt file,
        left out of checkpoints (logged once)."""
        from .prompt import PompPromptLearner
        model = unwrap_model(runner.model)
        learners = [(n, m) for n, m in model.named_modules()
                    if isinstance(m, PompPromptLearner) and
                    f'{n}.ctx'.endswith(self.key)]
        if not learners or not all(m._frozen_from_config()
                                   for _, m in learners):
            return False
        if not getattr(self, '_frozen_logged', False):
            self._frozen_logged = True
            print_log('PromptCheckpointHook: the prompt is frozen (from '
                      f'{learners[0][1].ctx_source}); no prompt file written',
                      logger='current')
        return True

    @staticmethod
    def _learner_meta(runner, key: str) -> dict:
        """The saved learner's :meth:`~PompPromptLearner.prompt_meta` (its
        CLIP, fingerprint, position, training vocabulary, ...) and the
        run's config text; ``{}`` if the key names no learner."""
        from .prompt import PompPromptLearner
        from .vocabulary import PhaseVocabularies
        model = unwrap_model(runner.model)
        name = key[:-len('.ctx')] if key.endswith('.ctx') else ''
        try:
            learner = model.get_submodule(name) if name else model
        except AttributeError:
            return {}
        if not isinstance(learner, PompPromptLearner):
            return {}
        vocabularies = getattr(model, 'vocabularies', None)
        names = vocabularies.get('train') if isinstance(
            vocabularies, PhaseVocabularies) else None
        info = learner.prompt_meta(names)
        cfg = getattr(runner, 'cfg', None)
        if cfg is not None:
            if getattr(runner, '_pomp_config_text', None) is None:
                try:  # formatted once per run
                    text = cfg.pretty_text
                except Exception:  # noqa: BLE001 - an unformattable config
                    text = str(cfg)
                runner._pomp_config_text = text
            info['config'] = runner._pomp_config_text
        return info


@HOOKS.register_module()
class VocabularyHook(Hook):
    """Give the model the class names of the dataset it runs on.

    Before training it offers the model the training set's
    ``metainfo['classes']`` for the ``'train'`` phase; before validation and
    test, that set's for ``'test'``
    (:func:`~pomp_mm.core.vocabulary.offer_dataset_vocabulary`). The
    model's explicit vocabulary (config ``train_vocabulary`` /
    ``test_vocabulary``) wins over the dataset's: see the precedence rule
    of :mod:`pomp_mm.core.vocabulary`.
    """

    priority = 'HIGH'

    @staticmethod
    def _set(runner, loader, mode: str) -> None:
        model = unwrap_model(runner.model)
        dataset = getattr(loader, 'dataset', None)
        meta = getattr(dataset, 'metainfo', {})
        if isinstance(meta, (list, tuple)):
            VocabularyHook._check_concatenated(dataset, meta, mode)
            return
        classes = meta.get('classes')
        if not classes:
            raise ValueError(
                f'VocabularyHook: the {mode} dataset '
                f'{type(dataset).__name__} has no metainfo["classes"]; set '
                'the class names in the dataset config (e.g. '
                'classnames_file=...) or the vocabulary in the model config')
        offer_dataset_vocabulary(model, classes, mode)

    @staticmethod
    def _check_concatenated(dataset, metas, mode: str) -> None:
        """Datasets of different classes in one (mmdet's ``ConcatDataset``
        gives one metainfo per dataset): at test, each batch brings its own
        set's class names (``data_sample.text``) and the model scores it
        with them, so every set must put them there (mmdet:
        ``return_classes=True``); a training run needs one vocabulary."""
        parts = getattr(dataset, 'datasets', [])
        names = [type(d).__name__ for d in parts]
        if mode == 'train':
            raise ValueError(
                f'VocabularyHook: the train dataset {type(dataset).__name__} '
                f'joins datasets with different classes ({", ".join(names)})'
                '; one training run has one vocabulary: give them the same '
                'metainfo["classes"] or set train_vocabulary in the model')
        silent = [n for d, n in zip(parts, names)
                  if not getattr(d, 'return_classes', False)]
        if silent or len(parts) != len(metas):
            raise ValueError(
                f'VocabularyHook: the {mode} dataset '
                f'{type(dataset).__name__} joins datasets with different '
                f'classes, and {", ".join(silent) or "some"} do not give '
                'their class names with each image (data_sample.text): set '
                'return_classes=True on each, so that every image is scored '
                'with its own set\'s classes')
        print_log(
            f'VocabularyHook: {mode} vocabulary per batch, the class names '
            'of its own set: ' + ', '.join(
                f'{n} ({len(m.get("classes") or ())} classes)'
                for n, m in zip(names, metas)),
            logger='current')

    def before_train(self, runner) -> None:
        self._set(runner, runner.train_dataloader, 'train')

    def before_val(self, runner) -> None:
        self._set(runner, runner.val_dataloader, 'test')

    def before_test(self, runner) -> None:
        self._set(runner, runner.test_dataloader, 'test')


#: Key of :class:`RandomStateHook`'s entry in an MMEngine checkpoint.
RANDOM_STATE_KEY = 'random_states'
#: Datasets larger than this are not fingerprinted (a full ImageNet-21K
#: list would take a minute); few-shot subsets are far smaller.
MAX_FINGERPRINT_SAMPLES = 2_000_000


def module_generators(model: torch.nn.Module | None
                      ) -> dict[str, torch.Generator]:
    """Every ``torch.Generator`` held as an attribute by a module of a model.

    Args:
        model (nn.Module, optional): The model (unwrapped).

    Returns:
        dict[str, torch.Generator]: ``'module.path.attr'`` -> generator, e.g.
        ``'loss_module.generator'`` for :class:`~pomp_mm.core.PompLoss`.
    """
    if model is None:
        return {}
    found = {}
    for name, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, torch.Generator):
                found[f'{name}.{attr}' if name else attr] = value
    return found


def capture_random_state(model: torch.nn.Module | None = None
                         ) -> dict[str, Any]:
    """This process's random states, as tensors and plain Python values.

    Args:
        model (nn.Module, optional): Its generators (see
            :func:`module_generators`) are captured too. Defaults to None.

    Returns:
        dict: ``python``, ``numpy``, ``torch``, ``cuda`` (None without an
        initialised GPU) and ``generators`` states.
    """
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    cuda = torch.cuda.get_rng_state() if torch.cuda.is_available() and \
        torch.cuda.is_initialized() else None
    return {
        'python': [version, torch.tensor(internal, dtype=torch.int64), gauss],
        'numpy': [name, torch.from_numpy(keys.astype(np.int64)), int(pos),
                  int(has_gauss), float(cached)],
        'torch': torch.get_rng_state(),
        'cuda': cuda,
        'generators': {k: g.get_state()
                       for k, g in module_generators(model).items()},
    }


def restore_random_state(state: dict[str, Any],
                         model: torch.nn.Module | None = None) -> None:
    """Put back states captured by :func:`capture_random_state`.

    Args:
        state (dict): The captured states (tensors may be on any device).
        model (nn.Module, optional): Model whose generators are restored
            (matched by name). Defaults to None.
    """
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal.cpu().tolist()), gauss))
    name, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), pos,
                         has_gauss, cached))
    torch.set_rng_state(state['torch'].cpu())
    if state.get('cuda') is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'].cpu())
    generators = module_generators(model)
    for key, value in state.get('generators', {}).items():
        if key in generators:
            generators[key].set_state(value.cpu())


def dataset_fingerprint(dataset) -> dict[str, Any] | None:
    """Size and SHA-1 of a dataset's ``(image, label)`` list.

    Image paths are taken relative to the dataset's ``data_root``, so the
    fingerprint does not change when the data is mounted elsewhere.

    Args:
        dataset: An MMEngine dataset (``get_data_info``, ``__len__``).

    Returns:
        dict | None: ``{'samples': n, 'sha1': hex}`` (``sha1`` is None above
        :data:`MAX_FINGERPRINT_SAMPLES`), or None for a dataset without
        ``get_data_info``.
    """
    if not hasattr(dataset, 'get_data_info'):
        return None
    n = len(dataset)
    if n > MAX_FINGERPRINT_SAMPLES:
        return {'samples': n, 'sha1': None}
    root = getattr(dataset, 'data_root', None) or ''
    digest = hashlib.sha1()
    for i in range(n):
        info = dataset.get_data_info(i)
        path = info.get('img_path', info.get('sample_idx', ''))
        if isinstance(path, str) and root and path.startswith(root):
            path = osp.relpath(path, root)
        digest.update(f'{path}\t{info.get("gt_label", "")}\n'.encode())
    return {'samples': n, 'sha1': digest.hexdigest()}


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Per-rank random streams that a resumed run gets back exactly.

    MMEngine's checkpoints hold the model (with :class:`PompLoss`'s sampler
    state), the optimizer, the schedulers and the epoch, but not the global
    random states that data augmentation draws from. This hook adds, for
    every rank:

    * the python ``random``, numpy and torch (and CUDA) RNG states, taken at
      the end of each training epoch and put back at the start of the next
      one, so what validation draws in between never changes training;
    * each rank's own state of every ``torch.Generator`` of the model (the
      checkpoint's ``state_dict`` only holds rank 0's, which would give every
      rank rank 0's negatives after a resume);
    * the sampler's shuffling seed, and a fingerprint of the training set
      (few-shot subset included): a resumed run on different data, or ranks
      that see different data, are reported.

    It also re-seeds data-loader workers per epoch: MMEngine seeds worker
    ``w`` of rank ``r`` with ``seed + num_workers * r + w`` every epoch, so
    each epoch replayed the same augmentation stream. The hook adds
    ``epoch * (num_workers + 1) * world_size`` (epoch 0 unchanged), which is
    distinct for every rank, worker and epoch and, like everything above,
    comes back on resume.

    A resume is then bit-exact for epoch-based loops with ``num_workers=0``
    or ``persistent_workers=False`` (deterministic kernels assumed).
    Persistent workers keep their own RNG streams across epochs, which no
    checkpoint can hold: the hook warns when such a run resumes.

    Args:
        rank_seeds (bool): At the start of a distributed run (not a resumed
            one), seed rank ``r``'s python, numpy and torch RNGs with
            ``seed + r``. MMEngine seeds every rank alike (unless
            ``randomness.diff_rank_seed``, which also changes the sampler's
            shuffling seed), so with ``num_workers=0`` every rank would
            draw the same crops and flips. The model is built before, from
            the shared seed. Defaults to True.
        reseed_workers (bool): Re-seed MMEngine's default worker seeding per
            epoch (a custom ``worker_init_fn`` is left alone). Defaults to
            True.
        check_data (bool): Fingerprint the training set, refuse ranks that
            see different data and warn when a resumed run's data differs
            from the checkpoint's. Defaults to True.
    """

    priority = 'NORMAL'  # after_train_epoch before CheckpointHook's save

    def __init__(self,
                 rank_seeds: bool = True,
                 reseed_workers: bool = True,
                 check_data: bool = True) -> None:
        self.rank_seeds = rank_seeds
        self.reseed_workers = reseed_workers
        self.check_data = check_data
        self._snapshot: dict[str, Any] | None = None
        self._gathered: list[dict[str, Any]] | None = None
        self._at_epoch_end = False
        self._loaded: dict[str, Any] | None = None
        self._fingerprint: dict[str, Any] | None = None
        self._worker_fn: functools.partial | None = None

    @staticmethod
    def _model(runner) -> torch.nn.Module:
        return unwrap_model(runner.model)

    def _resuming(self, runner) -> bool:
        """A checkpoint was loaded by ``--resume`` (not ``load_from``) and
        training has not moved since."""
        return self._loaded is not None and \
            self._loaded.get('iter') == runner.iter

    # -- checkpoint I/O -------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # MMEngine calls this on rank 0 only: the states of all ranks were
        # gathered at the end of the epoch; a checkpoint saved mid-epoch
        # (iteration-based) holds rank 0's alone
        if self._at_epoch_end and self._gathered is not None:
            ranks = self._gathered
        else:
            ranks = [capture_random_state(self._model(runner))]
        sampler = getattr(runner.train_loop.dataloader, 'sampler', None)
        checkpoint[RANDOM_STATE_KEY] = {
            'iter': runner.iter,
            'world_size': get_world_size(),
            'ranks': ranks,
            'sampler_seed': getattr(sampler, 'seed', None),
            'data': self._fingerprint,
        }

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded = checkpoint.get(RANDOM_STATE_KEY)

    # -- training -------------------------------------------------------------
    def before_train(self, runner) -> None:
        loader = runner.train_loop.dataloader
        if self.check_data:
            self._check_data(runner, loader.dataset)
        if not self._resuming(runner):
            self._offset_rank_seeds(runner)
            return
        saved = self._loaded
        sampler = getattr(loader, 'sampler', None)
        if saved.get('sampler_seed') is not None and \
                getattr(sampler, 'seed', None) is not None:
            sampler.seed = saved['sampler_seed']
        if saved['world_size'] != get_world_size():
            print_log(
                f'RandomStateHook: the checkpoint was written by '
                f'{saved["world_size"]} processes, this run has '
                f'{get_world_size()}; random states are not restored and the'
                ' resumed run will not match an unbroken one',
                logger='current', level=logging.WARNING)
            self._loaded = None
            self._offset_rank_seeds(runner)
        elif loader.num_workers > 0 and loader.persistent_workers:
            print_log(
                'RandomStateHook: persistent_workers=True keeps worker RNG '
                'streams across epochs, which no checkpoint holds; the '
                'resumed run\'s augmentations will differ from an unbroken '
                'run\'s (set persistent_workers=False for a bit-exact '
                'resume)', logger='current', level=logging.WARNING)

    def before_train_epoch(self, runner) -> None:
        state = None
        if self._resuming(runner):
            ranks = self._loaded['ranks']
            state = ranks[get_rank()] if get_rank() < len(ranks) else None
            if state is None:  # a mid-epoch checkpoint holds rank 0's only
                self._offset_rank_seeds(runner)
        elif self._snapshot is not None:
            state = self._snapshot
        self._loaded = None
        self._at_epoch_end = False
        if state is not None:
            restore_random_state(state, self._model(runner))
        if self.reseed_workers:
            self._seed_workers(runner)

    def after_train_epoch(self, runner) -> None:
        self._snapshot = capture_random_state(self._model(runner))
        self._gathered = all_gather_object(self._snapshot)  # every rank
        self._at_epoch_end = True

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self._at_epoch_end = False

    # -- helpers --------------------------------------------------------------
    def _offset_rank_seeds(self, runner) -> None:
        """Seed rank r's python/numpy/torch RNGs with ``seed + r``."""
        if not self.rank_seeds or get_world_size() == 1:
            return
        randomness = runner.cfg.get('randomness') or {}
        if randomness.get('diff_rank_seed', False) or runner.seed is None:
            return  # MMEngine already gave each rank its own seed
        seed = (int(runner.seed) + get_rank()) % 2**32
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _seed_workers(self, runner) -> None:
        """Shift MMEngine's default worker seed by the epoch."""
        loader = runner.train_loop.dataloader
        if self._worker_fn is None:
            fn = getattr(loader, 'worker_init_fn', None)
            if not (isinstance(fn, functools.partial)
                    and fn.func is mmengine_worker_init_fn):
                return  # no seed, or the user's own worker_init_fn
            self._worker_fn = fn
        base = self._worker_fn
        keywords = dict(base.keywords)
        stride = (int(keywords.get('num_workers') or 0) + 1) * \
            get_world_size()
        keywords['seed'] = int(keywords['seed']) + runner.epoch * stride
        loader.worker_init_fn = functools.partial(base.func, *base.args,
                                                  **keywords)

    def _check_data(self, runner, dataset) -> None:
        """Same data on every rank, and as in the resumed checkpoint."""
        self._fingerprint = dataset_fingerprint(dataset)
        prints: list[Any] = all_gather_object(self._fingerprint)
        if any(p != prints[0] for p in prints):
            desc = '; '.join(f'rank {r}: {p}' for r, p in enumerate(prints))
            raise RuntimeError(
                f'RandomStateHook: the ranks see different training sets '
                f'({desc}); every rank must read the same data (same '
                'data_root, class files and few-shot cache)')
        saved = (self._loaded or {}).get('data')
        if self._resuming(runner) and saved and self._fingerprint and \
                saved != self._fingerprint:
            print_log(
                f'RandomStateHook: the training set differs from the '
                f'checkpoint\'s (now {self._fingerprint}, then {saved}); was '
                'the data or the few-shot subset changed? The resumed run '
                'will not match an unbroken one', logger='current',
                level=logging.WARNING)
