"""Simulated field devices: Modbus street-light controllers, meters and serial sensors for tests and demos."""
