"""pomp_mm: POMP prompt pre-training of CLIP as an OpenMMLab plugin."""
import pomp_mm_tvfix as _tvfix

from .version import __version__

_tvfix.patch_torchvision()  # no-op when torchvision already loaded or works

__all__ = ['__version__']
