"""agent/local."""
