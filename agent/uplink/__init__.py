"""agent/uplink."""
