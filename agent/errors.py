"""Lentera's error tree: what went wrong, and for the operator what to do."""


class LenteraError(Exception):
    """Base of every error Lentera raises on purpose."""


class ConfigError(LenteraError):
    """A configuration problem found at start-up; fatal."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class DeviceError(LenteraError):
    """A field device did not answer, or answered wrongly; transient."""

    def __init__(self, device: str, operation: str, detail: str):
        self.device = device
        self.operation = operation
        self.detail = detail
        super().__init__(f"device {device}: {operation} failed: {detail}")


class UplinkError(LenteraError):
    """The city broker could not be reached or refused us; transient."""
