"""Feature adaptation and weight-space methods (filled in by issue 9)."""
__all__ = []
