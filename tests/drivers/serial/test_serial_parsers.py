"""Frame parsers: known byte sequences, garbage, bad checksums, split reads, fuzzing."""

import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.serial.parsers import (
    PMS5003_POINTS,
    AsciiLineParser,
    Pms5003Parser,
    Sds011Parser,
    make_parser,
)

# Datasheet example: PM2.5 = 0x04D4 = 123.6, PM10 = 0x0A3A = 261.8, id A1 60,
# checksum D4+04+3A+0A+A1+60 = 0x21D -> 1D.
SDS_KNOWN = bytes.fromhex("AA C0 D4 04 3A 0A A1 60 1D AB")


def sds_frame(pm25_tenths: int, pm10_tenths: int, dev_id: int = 0x1234) -> bytes:
    """Test-side SDS011 builder, written independently of the emitter."""
    data = struct.pack("<HHH", pm25_tenths, pm10_tenths, dev_id)
    return b"\xaa\xc0" + data + bytes([sum(data) % 256]) + b"\xab"


def pms_frame(words: list[int]) -> bytes:
    """Test-side PMS5003 builder: 13 data words, big-endian, 16-bit sum checksum."""
    assert len(words) == 13
    body = b"\x42\x4d" + struct.pack(">H", 28) + struct.pack(">13H", *words)
    return body + struct.pack(">H", sum(body) % 65536)


PMS_WORDS = [5, 12, 20, 4, 10, 18, 900, 270, 45, 6, 2, 1, 0]


def test_sds011_known_frame_decodes_to_datasheet_values():
    p = Sds011Parser()
    [r] = p.feed(SDS_KNOWN, ts=42.0)
    assert r.ts == 42.0
    assert dict(r.values) == {"pm2_5": 123.6, "pm10": 261.8}
    assert p.counters.as_dict() == {"frames_ok": 1, "bad_checksum": 0, "bad_frames": 0,
                                    "resync_bytes_dropped": 0}


def test_reading_is_immutable():
    [r] = Sds011Parser().feed(SDS_KNOWN, ts=0)
    with pytest.raises(TypeError):
        r.values["pm2_5"] = 1.0
    with pytest.raises(AttributeError):
        r.ts = 1.0


def test_sds011_garbage_before_and_between_frames():
    p = Sds011Parser()
    garbage = b"\x00\xaa\xc0\x13\xab\xff\xaa"
    stream = garbage + sds_frame(150, 300) + garbage + sds_frame(151, 301) + b"\xaa"
    rs = p.feed(stream, ts=1)
    assert [dict(r.values) for r in rs] == [{"pm2_5": 15.0, "pm10": 30.0},
                                            {"pm2_5": 15.1, "pm10": 30.1}]
    assert p.counters.frames_ok == 2
    assert p.counters.resync_bytes_dropped == 2 * len(garbage)


def test_sds011_bad_checksum_publishes_nothing_and_is_counted():
    bad = bytearray(sds_frame(250, 400))
    bad[8] ^= 0x01
    p = Sds011Parser()
    assert p.feed(bytes(bad), ts=0) == []
    assert p.counters.bad_checksum == 1
    assert p.counters.frames_ok == 0
    assert p.counters.resync_bytes_dropped == 10


def test_sds011_wrong_tail_is_a_bad_frame():
    bad = bytearray(sds_frame(250, 400))
    bad[9] = 0x00
    p = Sds011Parser()
    assert p.feed(bytes(bad), ts=0) == []
    assert (p.counters.bad_frames, p.counters.bad_checksum) == (1, 0)


def test_sds011_valid_frame_inside_a_truncated_one_is_found():
    # a frame cut short by a glitch, immediately followed by a good one: the false candidate
    # fails, one byte is dropped, the rescan finds the real header
    good = sds_frame(333, 444)
    p = Sds011Parser()
    [r] = p.feed(good[:6] + good, ts=0)
    assert r.values["pm2_5"] == 33.3
    assert p.counters.frames_ok == 1


def test_sds011_byte_by_byte():
    p = Sds011Parser()
    stream = b"\x01\x02" + sds_frame(99, 199) + sds_frame(100, 200)
    out = []
    for i in range(len(stream)):
        out += p.feed(stream[i:i + 1], ts=i)
    assert [r.values["pm2_5"] for r in out] == [9.9, 10.0]
    assert [r.ts for r in out] == [11, 21]  # stamped when the last byte arrived


def test_pms5003_decodes_every_named_point():
    p = Pms5003Parser()
    [r] = p.feed(pms_frame(PMS_WORDS), ts=3)
    assert dict(r.values) == {name: float(w) for name, w in zip(PMS5003_POINTS, PMS_WORDS)}
    assert r.values["pm2_5"] == 12.0 and r.values["pm2_5_atm"] == 10.0
    assert r.values["count_0_3um"] == 900.0


def test_pms5003_bad_checksum_and_bad_length_are_counted():
    bad_sum = bytearray(pms_frame(PMS_WORDS))
    bad_sum[31] ^= 0xFF
    bad_len = bytearray(pms_frame(PMS_WORDS))
    bad_len[3] = 20
    p = Pms5003Parser()
    good = pms_frame([1] * 13)
    out = p.feed(bytes(bad_sum) + bytes(bad_len) + good, ts=0)
    assert [r.values["pm10"] for r in out] == [1.0]
    assert p.counters.bad_checksum == 1
    assert p.counters.bad_frames == 1
    assert p.counters.frames_ok == 1


def test_pms5003_split_reads_and_garbage():
    p = Pms5003Parser()
    stream = b"BM\x42\x42" + pms_frame(PMS_WORDS) + b"\x4d\x42" + pms_frame([7] * 13)
    out = []
    for i in range(0, len(stream), 3):
        out += p.feed(stream[i:i + 3], ts=0)
    assert [r.values["pm1_0"] for r in out] == [5.0, 7.0]
    assert p.counters.resync_bytes_dropped == 6


def ascii_parser(**kw):
    kw.setdefault("pattern", r"T=(?P<temp>-?\d+(\.\d+)?) RH=(?P<rh>\d+)")
    kw.setdefault("skip_first_line", False)
    return AsciiLineParser(**kw)


def test_ascii_named_groups_become_points_with_scale():
    p = ascii_parser(scales={"rh": 0.1})
    [r] = p.feed(b"T=21.5 RH=455\r\n", ts=5)
    assert dict(r.values) == {"temp": 21.5, "rh": 45.5}


def test_ascii_counts_unmatched_not_utf8_and_overlong():
    p = ascii_parser(max_line_len=20)
    out = p.feed(b"hello\nT=1 RH=2\n\xff\xfeT=1\n" + b"T=" + b"9" * 40 + b" RH=1\nT=3 RH=4\n",
                 ts=0)
    assert [dict(r.values) for r in out] == [{"temp": 1.0, "rh": 2.0}, {"temp": 3.0, "rh": 4.0}]
    c = p.counters
    assert (c.lines_unmatched, c.lines_not_utf8, c.lines_overlong) == (1, 1, 1)
    assert c.bad_frames == 3 and c.frames_ok == 2


def test_ascii_overlong_partial_line_is_dropped_before_its_terminator_arrives():
    p = ascii_parser(max_line_len=16)
    assert p.feed(b"x" * 100, ts=0) == []
    assert p.counters.lines_overlong == 1
    assert len(p._buf) == 0  # memory stays bounded while the line goes on
    p.feed(b"y" * 100, ts=0)
    assert p.counters.lines_overlong == 1
    [r] = p.feed(b"zz\nT=2 RH=3\n", ts=0)
    assert r.values["temp"] == 2.0


def test_ascii_skips_first_partial_line_by_default():
    p = AsciiLineParser(r"PM=(?P<pm>[\d.]+)")
    out = p.feed(b"3.4\nPM=12.5\n", ts=0)
    assert [r.values["pm"] for r in out] == [12.5]
    assert p.counters.resync_bytes_dropped == 4


def test_reset_forgets_half_frames_and_rearms_first_line_skip():
    p = Sds011Parser()
    p.feed(SDS_KNOWN[:5], ts=0)
    p.reset()
    assert p.feed(SDS_KNOWN[5:], ts=0) == []
    a = AsciiLineParser(r"V=(?P<v>\d+)")
    assert a.feed(b"V=1\nV=2\n", ts=0)[0].values["v"] == 2.0
    a.reset()
    assert [r.values["v"] for r in a.feed(b"V=3\nV=4\n", ts=0)] == [4.0]


def test_ascii_multibyte_terminator_split_across_reads():
    p = ascii_parser(terminator=b"\r\n")
    out = []
    for chunk in (b"T=1 RH=2\r", b"\nT=3 ", b"RH=4\r", b"\n"):
        out += p.feed(chunk, ts=0)
    assert [r.values["temp"] for r in out] == [1.0, 3.0]


def test_ascii_rejects_non_finite_numbers():
    p = AsciiLineParser(r"V=(?P<v>\S+)", skip_first_line=False)
    assert p.feed(b"V=nan\nV=inf\nV=abc\n", ts=0) == []
    assert p.counters.lines_unmatched == 3


def test_ascii_constructor_rejects_nonsense():
    with pytest.raises(ValueError, match="no named groups"):
        AsciiLineParser(r"\d+")
    with pytest.raises(ValueError, match="not in the pattern"):
        AsciiLineParser(r"(?P<a>\d+)", scales={"b": 2})
    with pytest.raises(ValueError, match="unknown serial sensor kind"):
        make_parser("sds012")


# ---- property tests ---------------------------------------------------------------------------

def valid_sds_frames_in(data: bytes) -> set[bytes]:
    """Every 10-byte window of data that is a valid SDS011 frame, by the test's own rules."""
    found = set()
    for i in range(len(data) - 9):
        w = data[i:i + 10]
        if w[:2] == b"\xaa\xc0" and w[9] == 0xAB and sum(w[2:8]) % 256 == w[8]:
            found.add(w)
    return found


def valid_pms_frames_in(data: bytes) -> set[bytes]:
    found = set()
    for i in range(len(data) - 31):
        w = data[i:i + 32]
        if w[:4] == b"\x42\x4d\x00\x1c" and sum(w[:30]) % 65536 == int.from_bytes(w[30:], "big"):
            found.add(w)
    return found


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


# header bytes and whole valid frames make hypothesis build near-misses and real frames cut up
# by noise, not just noise
noisy_bytes = st.lists(
    st.one_of(st.binary(max_size=12),
              st.sampled_from([b"\xaa\xc0", b"\xab", b"\x42\x4d\x00\x1c",
                               SDS_KNOWN, pms_frame(PMS_WORDS)])),
    max_size=30,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(data=noisy_bytes, cuts=st.lists(st.integers(0, 400), max_size=10))
def test_fuzz_sds011_values_only_from_valid_frames(data, cuts):
    p = Sds011Parser()
    out = [r for chunk in chunked(data, cuts) for r in p.feed(chunk, ts=0)]
    valid = valid_sds_frames_in(data)
    decoded_valid = [{"pm2_5": (f[3] << 8 | f[2]) / 10, "pm10": (f[5] << 8 | f[4]) / 10}
                     for f in valid]
    for r in out:
        assert dict(r.values) in decoded_valid
    assert len(out) <= len(data) // 10
    assert p.counters.frames_ok == len(out)


@settings(max_examples=300, deadline=None)
@given(data=noisy_bytes, cuts=st.lists(st.integers(0, 400), max_size=10))
def test_fuzz_pms5003_values_only_from_valid_frames(data, cuts):
    p = Pms5003Parser()
    out = [r for chunk in chunked(data, cuts) for r in p.feed(chunk, ts=0)]
    decoded_valid = [{name: float(int.from_bytes(f[4 + 2 * i:6 + 2 * i], "big"))
                      for i, name in enumerate(PMS5003_POINTS)} for f in valid_pms_frames_in(data)]
    for r in out:
        assert dict(r.values) in decoded_valid
    assert p.counters.frames_ok == len(out)


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(st.binary(max_size=15).filter(lambda b: b"\xaa" not in b),
                  st.integers(0, 9999), st.integers(0, 9999)),
        max_size=8),
    cuts=st.lists(st.integers(0, 400), max_size=10),
)
def test_fuzz_sds011_every_frame_behind_garbage_is_found(pieces, cuts):
    stream = b"".join(g + sds_frame(a, b) for g, a, b in pieces)
    p = Sds011Parser()
    out = [r for chunk in chunked(stream, cuts) for r in p.feed(chunk, ts=0)]
    assert [(r.values["pm2_5"], r.values["pm10"]) for r in out] == [
        (a / 10, b / 10) for _, a, b in pieces]
    assert p.counters.resync_bytes_dropped == sum(len(g) for g, _, _ in pieces)


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(st.binary(max_size=40).filter(lambda b: b"\x42" not in b),
                  st.lists(st.integers(0, 65535), min_size=13, max_size=13)),
        max_size=5),
    cuts=st.lists(st.integers(0, 400), max_size=10),
)
def test_fuzz_pms5003_every_frame_behind_garbage_is_found(pieces, cuts):
    stream = b"".join(g + pms_frame(w) for g, w in pieces)
    p = Pms5003Parser()
    out = [r for chunk in chunked(stream, cuts) for r in p.feed(chunk, ts=0)]
    assert [r.values["pm2_5"] for r in out] == [float(w[1]) for _, w in pieces]


ascii_bytes = st.lists(
    st.one_of(st.binary(max_size=8), st.sampled_from([b"T=", b"\n", b"-", b"12", b".5", b" "])),
    max_size=60,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(data=ascii_bytes, cuts=st.lists(st.integers(0, 400), max_size=10))
def test_fuzz_ascii_publishes_exactly_the_matching_lines(data, cuts):
    pattern = r"T=(?P<t>-?\d{1,3}(\.\d)?)"
    p = AsciiLineParser(pattern, max_line_len=32)
    out = [r for chunk in chunked(data, cuts) for r in p.feed(chunk, ts=0)]
    expected = []
    for line in data.split(b"\n")[1:-1]:  # the first is skipped, the last is unterminated
        try:
            m = re.fullmatch(pattern, line.decode("utf-8").strip())
        except UnicodeDecodeError:
            continue
        if m and len(line) <= 32:
            expected.append(float(m["t"]))
    assert [r.values["t"] for r in out] == expected
