"""agent/demo."""
