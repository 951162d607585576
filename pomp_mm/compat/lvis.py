# Copyright (c) pomp_mm contributors. All rights reserved.
"""Make the ``lvis`` package's evaluator run on numpy 2.

What breaks: mmdet's ``LVISMetric`` scores with ``lvis.LVISEval``. Its last
PyPI release (lvis 0.5.3) calls ``np.float`` in ``LVISEval.accumulate``, an
alias numpy removed in 1.24 (the stack pins numpy 2.x); the fix on the
lvis-api GitHub master was never released.

What the patch does: :func:`patch_lvis_eval` gives the ``lvis.eval`` module
(and nothing else) a view of numpy that still has ``float``; numpy itself
is not changed. Idempotent: a second call finds ``lvis.eval.np.float`` and
returns False. ``import pomp_mm.det`` applies it.
"""
import importlib.util
import types

import numpy as np

__all__ = ['patch_lvis_eval']


class _NumpyWithFloat(types.ModuleType):
    """numpy, plus the ``float`` alias that lvis 0.5.3 needs; every other
    name is numpy's own, looked up at use."""

    float = float

    def __getattr__(self, name: str):
        return getattr(np, name)


def patch_lvis_eval() -> bool:
    """Patch ``lvis.eval`` if it is installed and needs it.

    Returns:
        bool: True if the patch was applied now; False without ``lvis``,
        with a numpy that has ``np.float``, or when already patched.
    """
    if importlib.util.find_spec('lvis') is None:
        return False
    import lvis.eval as lvis_eval
    if hasattr(lvis_eval.np, 'float'):
        return False
    lvis_eval.np = _NumpyWithFloat('numpy')
    return True
