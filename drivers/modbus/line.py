"""What every Modbus transport shares, without pymodbus: exception codes, line counters, RTU timing.

Kept apart so a gateway with only Modbus TCP buses never imports pymodbus (memory).
"""

ILLEGAL_DATA_ADDRESS = 2
GATEWAY_CODES = (0x0A, 0x0B)      # a TCP gateway saying the unit behind it is not there
FIXED_GAP_BAUD = 19200            # above this the Modbus serial spec fixes t3.5 at 1.75 ms


def rtu_gap_s(baudrate: int, parity: str = "N", stopbits: int = 1) -> float:
    """The RTU inter-frame silence t3.5 for a line setting."""
    if baudrate > FIXED_GAP_BAUD:
        return 0.00175
    return 3.5 * (1 + 8 + (0 if parity == "N" else 1) + stopbits) / baudrate


class LineCounters:
    """Errors seen on one bus's byte stream; none of them ever became a value."""

    def __init__(self):
        self.crc_errors = 0        # a whole frame arrived but its CRC did not match
        self.framing_errors = 0    # bytes that were not part of any frame (noise, cut frames)
        self.timeouts = 0
        self.resyncs = 0           # RTU: the reply search skipped bytes and found its step again
        self.noise_bytes = 0       # RTU: bytes discarded that belonged to no checked frame
        self.mismatched = 0        # checked frames answering something else (unit, fc, count, id)
        self.late_replies: dict = {}   # device -> replies that came after their timeout

    def late(self, device: str) -> None:
        """Count one late reply of device."""
        self.late_replies[device] = self.late_replies.get(device, 0) + 1

    def as_dict(self) -> dict:
        """The counters for a status message."""
        return {"crc_errors": self.crc_errors, "framing_errors": self.framing_errors,
                "timeouts": self.timeouts, "resyncs": self.resyncs,
                "noise_bytes": self.noise_bytes, "mismatched": self.mismatched,
                "late_replies": dict(self.late_replies)}
