"""Lentera's error tree: what went wrong, and for the operator what to do.

The root and the field errors come from `drivers/errors.py` (the lowest layer that
raises); the agent adds its own branches here. `edge_rules/errors.py` is the pure core's.
"""

from drivers.errors import (ConfigError, DeviceError, IllegalAddress, LenteraError,  # noqa: F401
                            NoReply, ProfileError)


class UplinkError(LenteraError):
    """The city broker could not be reached or refused us; transient."""


class StoreError(LenteraError):
    """The gateway's own storage (outbox, state files) refused a read or write; transient."""
