"""Lentera agent: orchestration, uplink, outbox, local API."""

__version__ = "0.1.0"
