"""Moved to pomp_mm.cls.datasets.imagenet21k; kept for this release."""
import sys

from pomp_mm.cls.datasets import imagenet21k as _moved

sys.modules[__name__] = _moved  # the same module: patches and isinstance agree
