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
    """Errors seen on one bus's byte stream."""

    def __init__(self):
        self.crc_errors = 0        # a whole frame arrived but its CRC did not match
        self.framing_errors = 0    # bytes that were not part of any frame (noise, cut frames)
        self.timeouts = 0

    def as_dict(self) -> dict:
        """The counters for a status message."""
        return {"crc_errors": self.crc_errors, "framing_errors": self.framing_errors,
                "timeouts": self.timeouts}
