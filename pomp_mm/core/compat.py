"""Moved to :mod:`pomp_mm.compat.mmengine`; kept for this release."""
from pomp_mm.compat.mmengine import (  # noqa: F401
    _prompt_aware, _WeightsOnlyTorch, patch_mmengine_checkpoint_loading)

__all__ = ['patch_mmengine_checkpoint_loading']
