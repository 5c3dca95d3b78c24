"""drivers/modbus."""
