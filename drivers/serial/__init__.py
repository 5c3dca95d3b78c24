"""drivers/serial."""
