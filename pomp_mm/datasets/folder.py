"""Moved to pomp_mm.cls.datasets.folder; kept for this release."""
import sys

from pomp_mm.cls.datasets import folder as _moved

sys.modules[__name__] = _moved  # the same module: patches and isinstance agree
