"""Test access to the private broker helper."""

from agent.demo.broker import Broker, free_port, wait_port

__all__ = ["Broker", "free_port", "wait_port"]
