# Copyright (c) pomp_mm contributors. All rights reserved.
"""Moved to :mod:`pomp_mm.compat.lvis`; kept for this release."""
from pomp_mm.compat.lvis import _NumpyWithFloat, patch_lvis_eval  # noqa: F401

__all__ = ['patch_lvis_eval']
