"""The field layer's errors, and the root of Lentera's error tree.

The root lives here because drivers/ is the lowest layer that raises: `agent/errors.py`
builds on these, and nothing in drivers/ imports the agent. Plain classes only, so the
MicroPython core can import them too.
"""


class LenteraError(Exception):
    """Base of every error Lentera raises on purpose."""


class ConfigError(LenteraError):
    """A configuration problem found at start-up (gateway.yaml, a profile); fatal."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__("%s: %s" % (path, message) if path else message)


class ProfileError(ConfigError):
    """A device profile (YAML register map) is unknown or invalid; names the file and key."""


class DeviceError(LenteraError):
    """A field device did not answer, or answered wrongly; transient."""

    def __init__(self, device: str, operation: str, detail: str):
        self.device = device
        self.operation = operation
        self.detail = detail
        super().__init__("device %s: %s failed: %s" % (device, operation, detail))


class IllegalAddress(DeviceError):
    """The device rejected a register range (Modbus exception 2)."""


class NoReply(DeviceError):
    """Nobody answered (timeout, a garbled reply, or a gateway reporting no response)."""


class FrameError(LenteraError):
    """Bytes from the field that are not a well-formed frame, or a frame that answers
    another request (the decoders' one documented error; counted, never a value)."""

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(detail)
