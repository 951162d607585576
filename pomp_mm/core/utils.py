"""Small model helpers shared by the core, the tasks and the hooks."""
import math

import torch
from torch import nn


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside an MMEngine wrapper (DDP, FSDP, ...), else itself.

    Uses :func:`mmengine.model.is_model_wrapper`: a model that merely has an
    attribute named ``module`` is not a wrapper.
    """
    from mmengine.model import is_model_wrapper
    return model.module if is_model_wrapper(model) else model


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
