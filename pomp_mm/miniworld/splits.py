"""Moved to pomp_mm.benchmarks.miniworld.splits; kept for this release."""
import sys

from pomp_mm.benchmarks.miniworld import splits as _moved

sys.modules[__name__] = _moved  # the same module: patches and isinstance agree
