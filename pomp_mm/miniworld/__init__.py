"""Moved to pomp_mm.benchmarks.miniworld; kept for this release."""
from pomp_mm.benchmarks.miniworld import *  # noqa: F401,F403
from pomp_mm.benchmarks.miniworld import __all__  # noqa: F401
