"""Moved to pomp_mm.benchmarks.miniworld.seg; kept for this release."""
import sys

from pomp_mm.benchmarks.miniworld import seg as _moved

sys.modules[__name__] = _moved  # the same module: patches and isinstance agree
