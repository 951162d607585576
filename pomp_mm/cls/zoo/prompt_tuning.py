"""Text and text-visual prompt tuning: CoCoOp, KgCoOp, MaPLe and visual
prompting (VP).

Every method is an mmpretrain model over the frozen
:class:`~pomp_mm.core.FrozenCLIP` that trains with ``tools/train.py`` and
tests with ``tools/test.py`` (modes ``'loss'`` / ``'predict'``, class names
from :class:`~pomp_mm.core.VocabularyHook`). The text methods reuse
:class:`~pomp_mm.core.PompPromptLearner`, so each can start from the POMP
prompt (``prompt_learner.prompt_checkpoint``).

* :class:`CoCoOpClassifier`: image-conditioned context (meta-net).
* :class:`KgCoOpClassifier`: CoOp kept close to the hand template.
* :class:`MaPLeClassifier`: deep language prompts coupled to vision prompts.
* :class:`VisualPromptClassifier`: a learned padding on the input image.
"""
from .cocoop import CoCoOpClassifier
from .kgcoop import KgCoOpClassifier
from .maple import MaPLeClassifier
from .visual_prompt import PadPrompter, VisualPromptClassifier

__all__ = ['CoCoOpClassifier', 'KgCoOpClassifier', 'MaPLeClassifier',
           'PadPrompter', 'VisualPromptClassifier']
