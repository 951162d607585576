"""mmpretrain adapters: the prompt-CLIP classifier (pre-training + zero-shot)."""
import pomp_mm.datasets  # noqa: F401  (registers the datasets)
from .model import PromptCLIPClassifier

__all__ = ['PromptCLIPClassifier']
