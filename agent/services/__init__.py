"""agent/services."""
