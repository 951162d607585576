"""MMEngine 0.10.7 reads checkpoints weights-only, with an allow-list.

What breaks: torch 2.6 made ``torch.load(weights_only=True)`` the default.
MMEngine 0.10.7's checkpoint module calls ``torch.load`` without
``weights_only``, and its checkpoints pickle the message hub
(``HistoryBuffer`` objects with numpy arrays), so ``load_from`` and
``--resume`` fail on them. MMEngine 0.11 answers with
``weights_only=False``, which runs any code a downloaded file carries.

What the patch does: :func:`patch_mmengine_checkpoint_loading` gives
``mmengine.runner.checkpoint`` (only) a ``torch`` whose ``load`` is
:func:`pomp_mm.core.checkpoint.safe_torch_load`: weights-only, with the
few MMEngine names allowed inside that call. Every other name of that
``torch`` is torch's own, looked up at each use (nothing is copied at
patch time, so what torch defines later is seen too). A file that needs
anything else is refused with one line naming the file and its first
offending global. Idempotent: a second call changes nothing.

After ``import pomp_mm`` this holds for every route into MMEngine's
loader: ``load_from``, ``--resume``, ``Runner.load_checkpoint``, mmdet's
``init_detector``, mmpretrain's and MMSeg's tools and inferencers.
``weights_only=False`` and ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` are never
set; an explicit ``weights_only=False`` from a caller is not honoured.

The same module's ``load_state_dict`` also learns prompt files: their root
``ctx`` goes into every prompt learner of the model (see
:func:`_prompt_aware`), so a prompt file given to ``load_from`` - and hence
to mmpretrain's, MMSeg's and MMDet's own ``tools/test.py`` and
inferencers - evaluates that prompt, not the config's.

``pomp_mm.core`` is imported only when a file is loaded, so applying the
patch (on ``import pomp_mm``) does not import the POMP model code.
"""
import functools
import types
from typing import Any, Callable

import torch

__all__ = ['patch_mmengine_checkpoint_loading']


class _WeightsOnlyTorch(types.ModuleType):
    """``torch`` as seen by one module: everything is torch's own, looked
    up at use (nothing copied), except ``load``."""

    def __init__(self) -> None:
        super().__init__('torch')

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    @staticmethod
    def load(f: Any, map_location: Any = None, *args: Any,
             **kwargs: Any) -> Any:
        """``torch.load`` through :func:`safe_torch_load`; ``weights_only``
        and ``pickle_module`` arguments are ignored (always weights-only)."""
        from pomp_mm.core.checkpoint import safe_torch_load
        obj = safe_torch_load(f, map_location=map_location)
        return _carry_prompt_meta(obj, f)


#: The key of a prompt file's ``{'path', 'meta'}`` in its state dict's
#: ``_metadata`` (no module is named so; torch looks modules up by name).
PROMPT_META_KEY = '~pomp_mm_prompt_file'


def _carry_prompt_meta(obj: Any, f: Any) -> Any:
    """A prompt file's path and ``meta``, carried to ``load_state_dict``.

    MMEngine's ``_load_checkpoint_to_model`` passes on only the state
    dict, and keeps its ``_metadata``: the file's name and ``meta`` ride
    there, so the prompt's ``meta`` is checked against the model it goes
    into and the log names the file.
    """
    state = obj.get('state_dict') if isinstance(obj, dict) else None
    if not (isinstance(state, dict) and isinstance(state.get('ctx'),
                                                   torch.Tensor)):
        return obj
    from collections import OrderedDict

    from pomp_mm.core.prompt import is_prompt_state
    if not is_prompt_state(state):
        return obj
    state = OrderedDict(state)
    metadata = OrderedDict(getattr(obj['state_dict'], '_metadata', {}))
    meta = obj.get('meta') if isinstance(obj.get('meta'), dict) else {}
    name = getattr(f, 'name', f) if not isinstance(f, str) else f
    metadata[PROMPT_META_KEY] = {'path': str(name), 'meta': meta}
    state._metadata = metadata
    return dict(obj, state_dict=state)


def _prompt_aware(load_state_dict: Callable) -> Callable:
    """MMEngine's ``load_state_dict``, which also takes a prompt file.

    A prompt file's state dict is a root ``ctx`` (official format), which
    matches no key of a model whose learner holds ``prompt_learner.ctx``:
    MMEngine would log "unexpected key" and evaluate the config's own
    prompt. Here it goes into every :class:`PompPromptLearner` of the
    model, and the log says so. Anything else is MMEngine's own load.
    """

    @functools.wraps(load_state_dict)
    def load(module, state_dict, strict=False, logger=None):
        from mmengine.logging import print_log

        from pomp_mm.core.prompt import is_prompt_state, load_prompt
        from pomp_mm.core.utils import unwrap_model
        own = unwrap_model(module)
        if is_prompt_state(state_dict) and not hasattr(own, 'ctx'):
            shape = tuple(state_dict['ctx'].shape)
            carried = getattr(state_dict, '_metadata', {}).get(
                PROMPT_META_KEY, {})
            source = carried.get('path', 'the checkpoint')
            _refuse_untrained_detector(own, source)
            names = load_prompt(module, state_dict, source, required=False,
                                log=False, meta=carried.get('meta'))
            if names:
                print_log(f"loaded the checkpoint's prompt ctx {shape} into "
                          f'{", ".join(names)} (prompt file {source})',
                          logger='current')
                return
        return load_state_dict(module, state_dict, strict, logger)

    load.pomp_prompt_aware = True
    return load


def is_mmdet_detector(model: Any) -> bool:
    """Whether ``model`` (unwrapped) is an mmdet detector, whose weights
    beyond CLIP and the prompt come only from a trained checkpoint (mmdet
    is not imported for this)."""
    import sys
    if 'mmdet.models' not in sys.modules:
        return False
    from mmdet.models.detectors import BaseDetector
    return isinstance(model, BaseDetector)


def _refuse_untrained_detector(model: Any, source: str) -> None:
    """A prompt-only file as the checkpoint of an mmdet detector: the
    detector's own weights (RPN, RoI heads, ...) would stay as built, and
    the test would report AP 0 with exit code 0. One-line error instead."""
    if not is_mmdet_detector(model):
        return
    from pomp_mm.core.checkpoint import CheckpointMismatchError
    raise CheckpointMismatchError(
        f'{source} is a prompt-only file, given as the checkpoint of the '
        f'detector {type(model).__name__}, whose own weights would stay '
        'untrained (AP 0); expected a trained detector checkpoint, with the '
        f'prompt given by config (--cfg-options {_prompt_option(model)}'
        '=PROMPT.pth) or pomp_mm\'s tools/test.py CONFIG DET.pth --prompt '
        'PROMPT.pth')


def _prompt_option(model: Any) -> str:
    """The config key of a detector's prompt file: its (first) prompt
    learner's place, ``fc_cls`` being built from ``cls_predictor_cfg``
    (``model.roi_head.bbox_head.0.cls_predictor_cfg...`` in a cascade)."""
    from pomp_mm.core.prompt import PompPromptLearner
    names = [name for name, m in model.named_modules()
             if isinstance(m, PompPromptLearner)]
    place = names[0] if names else 'roi_head.bbox_head.fc_cls.prompt_learner'
    return 'model.' + place.replace('fc_cls.prompt_learner',
                                    'cls_predictor_cfg.prompt_learner') + \
        '.prompt_checkpoint'


def patch_mmengine_checkpoint_loading() -> bool:
    """Make MMEngine's checkpoint module load weights-only, and take
    prompt files (idempotent).

    Returns:
        bool: True if anything was patched by this call; False when it
        was patched before.
    """
    import mmengine.runner.checkpoint as ckpt
    changed = False
    if not isinstance(ckpt.torch, _WeightsOnlyTorch):
        ckpt.torch = _WeightsOnlyTorch()
        changed = True
    if not getattr(ckpt.load_state_dict, 'pomp_prompt_aware', False):
        ckpt.load_state_dict = _prompt_aware(ckpt.load_state_dict)
        changed = True
    return changed
