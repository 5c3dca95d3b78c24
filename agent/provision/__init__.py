"""Commissioning: fleet CSV -> one bundle per gateway (config, keys, certificates), first boot."""
