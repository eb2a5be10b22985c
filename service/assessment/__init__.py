"""The /assess use case (placeholder docstring, rewritten after the split)."""
