"""Text and text-visual prompt tuning methods (filled in by issue 9)."""
__all__ = []
