"""Modbus TCP (MBAP) framing without I/O: request frames, the reply stream, reply checks.

Pure code over bytes, fuzzed (tests/drivers/modbus/test_fuzz_decoders.py, bench/fuzz.py):
`take_frames` and `check_reply` either return well-formed results or raise
`FrameError`; nothing else escapes.
"""

import struct

from drivers.errors import FrameError

MBAP = struct.Struct(">HHHB")                   # transaction id, protocol 0, length, unit
READ_REQUEST = struct.Struct(">HHHBBHH")        # MBAP + function, address, count
MAX_ADU = 260                                   # Modbus TCP: 7-byte MBAP + PDU <= 253
MAX_LENGTH = MAX_ADU - 6                        # the MBAP length field counts unit + PDU


def read_request(tid: int, unit: int, fc: int, address: int, count: int) -> bytes:
    """A read (function 3 or 4) request ADU."""
    return READ_REQUEST.pack(tid, 0, 6, unit, fc, address, count)


def write_request(tid: int, unit: int, address: int, values: list) -> bytes:
    """A write ADU: function 6 for one register, 16 for several."""
    if len(values) == 1:
        return READ_REQUEST.pack(tid, 0, 6, unit, 6, address, values[0])
    count = len(values)
    return struct.pack(f">HHHBBHHB{count}H", tid, 0, 7 + 2 * count, unit, 16, address,
                       count, 2 * count, *values)


def write_echo(address: int, values: list) -> bytes:
    """What a write reply must carry after its function code."""
    return struct.pack(">HH", address, values[0] if len(values) == 1 else len(values))


def take_frames(buf: bytearray) -> list:
    """Remove the complete ADUs from the front of buf: [(tid, unit, pdu)], pdu non-empty.

    FrameError when the stream is out of step (protocol id not 0, a length no ADU
    has) at the front of buf: TCP gives no way to find the next frame start, the
    connection must go. Frames before a corrupt header are returned first.
    """
    frames = []
    at = 0
    while len(buf) - at >= 7:
        tid, protocol, length, unit = MBAP.unpack_from(buf, at)
        if protocol != 0 or not 2 <= length <= MAX_LENGTH:
            if at:                       # hand over the good frames first; next call raises
                break
            raise FrameError(f"corrupt reply (protocol id {protocol}, length {length})")
        end = at + 6 + length
        if len(buf) < end:
            break
        frames.append((tid, unit, bytes(buf[at + 7:end])))
        at = end
    del buf[:at]
    return frames


def check_reply(unit: int, fc: int, count: int, reply_unit: int, pdu: bytes):
    """Check a reply PDU against its request: (None, data) or (exception code, b"").

    count: registers asked for a read (0 for a write). data: the register bytes of
    a read, the 4 echoed bytes of a write. FrameError when the reply answers
    something else (unit, function) or its size is not the one asked.
    """
    if not pdu:
        raise FrameError("empty reply")
    got = pdu[0]
    if reply_unit != unit or (got & 0x7F) != fc:
        raise FrameError(f"reply from unit {reply_unit} function {got} to a request to "
                         f"unit {unit} function {fc}")
    if got & 0x80:
        if len(pdu) != 2:
            raise FrameError(f"exception reply of {len(pdu)} bytes")
        return pdu[1], b""
    if count:
        if len(pdu) < 2 or pdu[1] != 2 * count or len(pdu) != 2 + pdu[1]:
            raise FrameError(f"short reply: {max(0, len(pdu) - 2) // 2} registers "
                             f"of {count}")
        return None, pdu[2:]
    if len(pdu) != 5:
        raise FrameError(f"write reply of {len(pdu)} bytes")
    return None, pdu[1:]
