"""The RTU framing: CRC, request frames, and what the reply scanner believes and counts."""

import struct

from drivers.modbus.rtu_frame import (ReplyScanner, crc16, read_request, with_crc, write_echo,
                                      write_request)


def reply(unit, fc, registers):
    return with_crc(bytes([unit, fc, 2 * len(registers)])
                    + struct.pack(f">{len(registers)}H", *registers))


def test_crc_and_request_frames_match_the_spec_example():
    # Modbus over serial line spec: read 10 holding registers of unit 1 -> CRC 0xCDC5
    assert read_request(1, 3, 0, 10) == bytes.fromhex("01030000000AC5CD")
    assert crc16(b"\x01\x03\x00\x00\x00\x0a") == 0xCDC5
    assert write_request(1, 1, [40])[:6] == bytes.fromhex("010600010028")
    assert write_request(1, 0, [1, 40])[:7] == bytes.fromhex("01100000000204")
    assert write_echo(0, [1, 40]) == b"\x00\x00\x00\x02"


def test_replies_to_something_else_are_counted_and_skipped():
    scanner = ReplyScanner(4, 4, 8)
    stream = (reply(5, 4, [1, 2, 3, 4])         # another unit (a late reply of unit 5)
              + reply(4, 3, [1, 2, 3, 4])       # our unit, another function
              + reply(4, 4, [1, 2, 3])          # our unit and function, wrong byte count
              + reply(4, 4, [10, 20, 30, 40]))  # ours
    pdu = scanner.feed(stream)
    assert struct.unpack(">4H", pdu[2:]) == (10, 20, 30, 40)
    assert scanner.mismatched == 3 and scanner.noise_bytes == 0 and scanner.crc_errors == 0


def test_a_damaged_reply_is_a_crc_error_and_the_next_good_one_is_found():
    good = reply(1, 4, [7, 8])
    damaged = bytearray(good)
    damaged[4] ^= 0x10
    scanner = ReplyScanner(1, 4, 4)
    assert scanner.feed(bytes(damaged)) is None
    assert scanner.crc_errors == 1 and scanner.resyncs == 1
    assert scanner.feed(good) == good[1:-2]
    assert scanner.noise_bytes == len(damaged)


def test_exception_reply_and_one_noise_byte_per_byte_value():
    exc = with_crc(b"\x02\x83\x02")
    assert ReplyScanner(2, 3, 8).feed(b"\x00" + exc) == b"\x83\x02"
    for noise in range(256):                    # one glitch byte of any value costs nothing
        scanner = ReplyScanner(3, 3, 4)
        assert scanner.feed(bytes([noise]) + reply(3, 3, [1, 2])) is not None, noise
        assert scanner.noise_bytes == 1 and scanner.resyncs == 1


def test_buffer_stays_bounded_under_endless_noise():
    scanner = ReplyScanner(1, 3, 250)
    for _ in range(200):
        assert scanner.feed(b"\x55" * 256) is None
    assert len(scanner.buf) <= 4 * 256 + 256
