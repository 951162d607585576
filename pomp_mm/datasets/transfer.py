"""Moved to pomp_mm.cls.datasets.transfer; kept for this release."""
import sys

from pomp_mm.cls.datasets import transfer as _moved

sys.modules[__name__] = _moved  # the same module: patches and isinstance agree
