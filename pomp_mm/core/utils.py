"""Small model helpers shared by the core, the tasks and the hooks."""
import copy
import itertools
import math
import os

import torch
from torch import nn


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside an MMEngine wrapper (DDP, FSDP, ...), else itself.

    Uses :func:`mmengine.model.is_model_wrapper`: a model that merely has an
    attribute named ``module`` is not a wrapper.
    """
    from mmengine.model import is_model_wrapper
    return model.module if is_model_wrapper(model) else model


_RUNNERS_BUILT = itertools.count(1)


def build_runner(cfg):
    """``Runner.from_cfg(cfg)`` (``RUNNERS.build`` for a ``runner_type``),
    with a logger, message hub and visualizer of its own.

    MMEngine names those three per-process singletons
    ``<config stem>_<timestamp to the second>`` and hands back the existing
    instance for a name it has seen. A second runner built in the same
    second by the same process (a feature-cache build after another, the
    mini-world driver's back-to-back tests, a sweep) therefore logs into the
    first runner's log file and writes its config into the first's
    ``vis_data`` folder, which may be gone by then (``FileNotFoundError``),
    and shares its message hub. The first runner of a process keeps the
    stock name; every later one gets ``_<n>`` after its experiment name.
    The caller's config is not changed.
    """
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    n = next(_RUNNERS_BUILT)
    if n > 1:
        stem = cfg.get('experiment_name') or (
            os.path.splitext(os.path.basename(cfg.filename))[0]
            if cfg.filename else 'run')
        cfg = copy.copy(cfg)  # a new top-level dict; nested ones shared
        cfg.experiment_name = f'{stem}_{n}'
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg \
        else RUNNERS.build(cfg)


def check_finite_ctx(ctx: torch.Tensor, what: str,
                     error: type = ValueError) -> None:
    """Refuse a prompt context holding NaN/Inf: the one check for prompt
    files, checkpoints and in-memory prompts.

    Args:
        ctx (Tensor): The context vectors.
        what (str): Where ``ctx`` comes from, e.g. ``"prompt file 'p.pth'"``.
        error (type): The exception raised. Defaults to ``ValueError``.

    Raises:
        error: ``"{what}: ctx has 2 non-finite values (NaN/Inf) of 64; ..."``.
    """
    finite = torch.isfinite(ctx)
    if not finite.all():
        raise error(
            f'{what}: ctx has {int((~finite).sum())} non-finite values (NaN/'
            f'Inf) of {ctx.numel()}; expected finite numbers (the training '
            'that wrote it diverged)')


def harmonic_mean(a, b):
    """H = 2ab / (a + b): CoCoOp's base-to-novel H and ZSSeg's hIoU.

    ``None`` if either is ``None`` (a missing result), NaN if either is NaN,
    0 if either is <= 0.
    """
    if a is None or b is None:
        return None
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return float('nan')
    if a <= 0 or b <= 0:
        return 0.0
    return 2 * a * b / (a + b)
