"""Moved to pomp_mm.cls.datasets; kept for this release."""
from pomp_mm.cls.datasets import *  # noqa: F401,F403
from pomp_mm.cls.datasets import __all__  # noqa: F401
from pomp_mm.cls.datasets import (embedded, fewshot, folder,  # noqa: F401
                                  imagenet21k, transfer)
