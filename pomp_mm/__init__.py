"""pomp_mm: POMP prompt pre-training of CLIP as an OpenMMLab plugin.

Importing it applies the repairs of the pinned stack that every use needs
(:mod:`pomp_mm.compat`): torchvision's CPU ops, and MMEngine's checkpoint
loader made weights-only (and prompt-aware). Both are idempotent.

:func:`config_path` names a shipped config for a ``_base_`` in a user's
own project (:mod:`pomp_mm.compat.mmengine_config`)::

    _base_ = [__import__('pomp_mm').config_path('pomp/pretrain.py')]
"""
from .compat.mmengine import patch_mmengine_checkpoint_loading as _mmengine
from .compat.mmengine_config import config_path
from .compat.torchvision import patch_torchvision as _torchvision
from .version import __version__

_torchvision()  # first: a no-op when torchvision is loaded already, or works
_mmengine()

__all__ = ['__version__', 'config_path']
