"""The transfer-method zoo: other ways to adapt CLIP, on the same runner.

* :mod:`.prompt_tuning`: text and text-visual prompt tuning (CoCoOp,
  KgCoOp, MaPLe, visual prompting).
* :mod:`.adapters`: feature adaptation and weight-space methods
  (CLIP-Adapter, Tip-Adapter / Tip-Adapter-F, WiSE-FT).

Every method is an mmpretrain model; see ``docs/zoo.md``.
"""
from .adapters import *  # noqa: F401,F403
from .prompt_tuning import *  # noqa: F401,F403
