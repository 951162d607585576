"""Moved to pomp_mm.benchmarks.miniworld.export; kept for this release."""
import sys

from pomp_mm.benchmarks.miniworld import export as _moved

if __name__ == '__main__':  # python -m pomp_mm.miniworld.export ...
    _moved.main()
else:
    sys.modules[__name__] = _moved  # the same module for importers
