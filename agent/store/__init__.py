"""agent/store."""
