"""Moved to pomp_mm.cls.datasets.embedded; kept for this release."""
import sys

from pomp_mm.cls.datasets import embedded as _moved

if __name__ == '__main__':  # python -m pomp_mm.datasets.embedded ...
    _moved.main()
else:
    sys.modules[__name__] = _moved  # the same module for importers
