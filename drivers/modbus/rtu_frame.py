"""Modbus RTU framing without I/O: CRC-16, request frames, and the reply scanner.

An RTU reply has no transaction id: all a client can check is that the frame is
from the unit it asked, carries the function it asked (or that function's
exception), has exactly the byte count it asked for, and ends in a good CRC.
`ReplyScanner` checks all four. Bytes that do not start such a frame are
skipped one at a time and the buffer rescanned, as the serial sensor parsers do
(drivers/serial/parsers.py), so a turnaround glitch in front of a reply costs a
counted noise byte, not the reply. A whole, well-formed frame that answers
something else (another unit, function or byte count: a late reply, a unit
talking out of turn) is skipped as one `mismatched` frame, never a value.

Pure code over bytes (fuzzed: tests/drivers/modbus/test_fuzz_decoders.py, bench/fuzz.py);
`feed()` never raises on what the line sends.
"""

import struct


def _crc_table() -> tuple:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()
READ_FUNCTIONS = (1, 2, 3, 4)          # replies: unit, fc, byte count, data, CRC
ECHO_FUNCTIONS = (5, 6, 15, 16)        # replies: unit, fc, 4 echoed bytes, CRC
MAX_FRAME = 256                        # Modbus serial ADU limit


def crc16(data: bytes) -> int:
    """The Modbus CRC-16 of data (as an int; sent low byte first)."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def with_crc(body: bytes) -> bytes:
    """body followed by its CRC, low byte first."""
    return body + crc16(body).to_bytes(2, "little")


def read_request(unit: int, fc: int, address: int, count: int) -> bytes:
    """A read (function 3 or 4) request frame."""
    return with_crc(struct.pack(">BBHH", unit, fc, address, count))


def write_request(unit: int, address: int, values: list) -> bytes:
    """A write request frame: function 6 for one register, 16 for several."""
    if len(values) == 1:
        return with_crc(struct.pack(">BBHH", unit, 6, address, values[0]))
    return with_crc(struct.pack(f">BBHHB{len(values)}H", unit, 16, address, len(values),
                                2 * len(values), *values))


def write_echo(address: int, values: list) -> bytes:
    """What a write reply must echo after its function code."""
    return struct.pack(">HH", address, values[0] if len(values) == 1 else len(values))


def frame_length(buf, start: int) -> int:
    """Length of the well-formed reply frame that would start at buf[start], 0 if none can.

    Needs buf[start + 1] (and buf[start + 2] for a read reply); -1 when those are not
    there yet.
    """
    if len(buf) < start + 2:
        return -1
    fc = buf[start + 1]
    if fc & 0x80:
        return 5 if (fc & 0x7F) else 0
    if fc in ECHO_FUNCTIONS:
        return 8
    if fc in READ_FUNCTIONS:
        if len(buf) < start + 3:
            return -1
        return 5 + buf[start + 2]
    return 0


def frame_ok(buf, start: int, length: int) -> bool:
    """True when buf[start:start + length] ends in its CRC."""
    end = start + length
    return crc16(buf[start:end - 2]) == buf[end - 2] | (buf[end - 1] << 8)


class ReplyScanner:
    """Finds the reply to one request in the bytes the line delivers, counting what it skips.

    want: the request's unit, function code and reply data size (2 * registers for a
    read, 4 for a write's echo). feed() returns the reply's PDU (function code and
    data, no unit or CRC) once a checked frame is complete, else None. An exception
    reply returns (fc | 0x80, code).
    """

    def __init__(self, unit: int, fc: int, data_size: int):
        self.unit = unit
        self.fc = fc
        self.length = 5 + data_size if fc in READ_FUNCTIONS else 8
        self.buf = bytearray()
        self.pos = 0                   # bytes before pos are settled as not the reply
        self.crc_errors = 0            # a frame whose CRC did not match
        self.resyncs = 0               # runs of skipped bytes (the search lost and re-found step)
        self.noise_bytes = 0           # bytes skipped that were no frame at all
        self.mismatched = 0            # good frames that answer something else
        self.pdu = None
        self.length_found = 0
        self._skipping = False

    def feed(self, data: bytes):
        """Add bytes from the line; the checked reply PDU once complete, else None."""
        if self.pdu is not None:
            self.noise_bytes += len(data)      # after the reply: nothing more is believed
            return self.pdu
        self.buf += data
        return self._scan()

    def leftover(self) -> int:
        """Bytes buffered but not (yet) part of the reply: discarded with the transaction."""
        if self.pdu is not None:
            return 0
        return len(self.buf) - self.pos

    def _scan(self):
        buf = self.buf
        while len(buf) - self.pos >= 2:
            at = self.pos
            verdict = self._look(buf, at)
            if verdict is None:
                return None            # a frame may start here: wait for its bytes
            if verdict > 0:            # a whole good frame that is not our reply
                self.mismatched += 1
                self.pos = at + verdict
                self._skipping = False
                continue
            if verdict == 0:           # our reply
                length = self.length_found
                self.pdu = bytes(buf[at + 1:at + length - 2])
                self.noise_bytes += len(buf) - at - length
                return self.pdu
            self.pos = at + 1          # no frame starts here: skip one byte, rescan
            self.noise_bytes += 1
            if not self._skipping:     # one resync per run of skipped bytes
                self.resyncs += 1
                self._skipping = True
        if len(buf) > 4 * MAX_FRAME:   # bounded: keep only what may still start a frame
            del buf[:self.pos]
            self.pos = 0
        return None

    def _ours(self, buf, at: int) -> int:
        """Length of our reply if one may start at buf[at]; 0 if not; -1: need a byte more."""
        if buf[at] != self.unit:
            return 0
        fc = buf[at + 1]
        if fc == self.fc | 0x80:
            return 5
        if fc != self.fc:
            return 0
        if self.fc in READ_FUNCTIONS:
            if len(buf) < at + 3:
                return -1
            return self.length if buf[at + 2] == self.length - 5 else 0
        return self.length

    def _look(self, buf, at: int):
        """None: wait; 0: our reply here; n > 0: a foreign good frame of n bytes;
        -1: no frame starts here; -2: our frame started here but its CRC is bad."""
        length = self._ours(buf, at)
        if length < 0:
            return None
        if length:
            if len(buf) < at + length:
                return None            # only our own reply is worth waiting for
            if frame_ok(buf, at, length):
                self.length_found = length
                return 0
            self.crc_errors += 1       # addressed as our reply, but damaged
            return -2
        # not ours: a whole good frame already here is a reply to something else;
        # anything else is skipped byte by byte (never waited for: noise must not stall)
        length = frame_length(buf, at)
        if 0 < length <= MAX_FRAME and len(buf) >= at + length and frame_ok(buf, at, length):
            return length
        return -1
