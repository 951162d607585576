"""pomp_mm: POMP prompt pre-training of CLIP as an OpenMMLab plugin.

Importing it applies the repairs of the pinned stack that every use needs
(:mod:`pomp_mm.compat`): torchvision's CPU ops, and MMEngine's checkpoint
loader made weights-only (and prompt-aware). Both are idempotent.
"""
from .compat.mmengine import patch_mmengine_checkpoint_loading as _mmengine
from .compat.torchvision import patch_torchvision as _torchvision
from .version import __version__

_torchvision()  # first: a no-op when torchvision is loaded already, or works
_mmengine()

__all__ = ['__version__']
