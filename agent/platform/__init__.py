"""agent/platform."""
