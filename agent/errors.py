"""Lentera's error tree: what went wrong, and for the operator what to do.

The root and the field errors come from `drivers/errors.py` (the lowest layer that
raises); the agent adds its own branches here. `edge_rules/errors.py` is the pure core's.
"""

from drivers.errors import (ConfigError, DeviceError, IllegalAddress, LenteraError,  # noqa: F401
                            NoReply, ProfileError)


class UplinkError(LenteraError):
    """The city broker could not be reached or refused us; transient."""


class PathError(LenteraError, ValueError):
    """A config problem that knows which key it belongs to (a ValueError, so pydantic keeps it)."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc


class BadEnvelope(LenteraError, ValueError):
    """A message on the command topic is not a well-formed signed envelope, or its signature fails."""


class Refused(LenteraError):
    """A city command that is not executed, with the reason (answered in its ack)."""


class ControlError(LenteraError, ValueError):
    """A crew request on the control socket that the crew has to correct; the message says how."""


class StoreError(LenteraError):
    """The gateway's own storage (outbox, state files) refused a read or write; transient."""
