"""Incremental frame parsers for serial air-quality and ASCII sensors: bytes in, readings out.

Each parser keeps a small buffer between `feed()` calls, so a frame may arrive in any number of
pieces. After garbage it resynchronises by scanning for the frame header; a candidate frame that
fails its checksum or structure costs one byte and the scan resumes, so a valid frame hidden just
behind garbage is still found. A value is published only from a frame that passed every check.
No I/O and no clock reads here: the caller supplies the timestamp.
"""

import math
import re
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class Reading:
    """One decoded frame: point name -> value, stamped with the caller's time."""

    ts: float
    values: Mapping[str, float]


@dataclass
class FrameCounters:
    """Running totals kept by a binary frame parser."""

    frames_ok: int = 0
    bad_checksum: int = 0  # header and structure fine, checksum wrong: no value published
    bad_frames: int = 0  # header found but structure wrong (tail byte, length field, ...)
    resync_bytes_dropped: int = 0  # bytes discarded while hunting for the next good frame

    def as_dict(self) -> dict[str, int]:
        """Snapshot of the counters, for status reports."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class LineCounters(FrameCounters):
    """Running totals of the ASCII line parser; bad_frames is the sum of the three line faults."""

    lines_unmatched: int = 0  # regex did not match the whole line, or a group was not a number
    lines_overlong: int = 0
    lines_not_utf8: int = 0


def _reading(ts: float, values: dict[str, float]) -> Reading:
    return Reading(ts, MappingProxyType(values))


class _BinaryFrameParser:
    """Shared header-scan / verify / resync loop; subclasses define the frame layout."""

    HEADER = b""
    FRAME_LEN = 0

    def __init__(self) -> None:
        self.counters = FrameCounters()
        self._buf = bytearray()

    def feed(self, data: bytes, ts: float) -> list[Reading]:
        """Consume a chunk of bytes and return the readings of every complete valid frame."""
        buf = self._buf
        buf += data
        out: list[Reading] = []
        while True:
            start = buf.find(self.HEADER)
            if start < 0:
                # keep a trailing first header byte: the rest of the header may be in the next chunk
                keep = 1 if buf[-1:] == self.HEADER[:1] else 0
                self._drop(len(buf) - keep)
                break
            self._drop(start)
            verdict = self._check_early(buf)
            if verdict is None and len(buf) < self.FRAME_LEN:
                break
            frame = bytes(buf[:self.FRAME_LEN])
            if verdict is None:
                verdict = self._check(frame)
            if verdict == "ok":
                self.counters.frames_ok += 1
                del buf[:self.FRAME_LEN]
                out.append(_reading(ts, self._decode(frame)))
                continue
            if verdict == "checksum":
                self.counters.bad_checksum += 1
            else:
                self.counters.bad_frames += 1
            self._drop(1)  # the header may have been a coincidence inside garbage: rescan
        return out

    def reset(self) -> None:
        """Forget buffered bytes (the port was reopened); counters keep running."""
        self._buf.clear()

    def _drop(self, n: int) -> None:
        if n > 0:
            del self._buf[:n]
            self.counters.resync_bytes_dropped += n

    def _check_early(self, buf: bytearray) -> str | None:
        """Reject a candidate before the whole frame has arrived; None means no verdict yet."""
        return None

    def _check(self, frame: bytes) -> str:
        """Return 'ok', 'checksum' or 'structure' for a full-length candidate frame."""
        raise NotImplementedError

    def _decode(self, frame: bytes) -> dict[str, float]:
        raise NotImplementedError


class Sds011Parser(_BinaryFrameParser):
    """Nova SDS011 data frames `AA C0 d1..d6 CS AB`; publishes pm2_5 and pm10 in µg/m³."""

    HEADER = b"\xaa\xc0"
    FRAME_LEN = 10
    TAIL = 0xAB

    def _check(self, frame: bytes) -> str:
        if frame[9] != self.TAIL:
            return "structure"
        if sum(frame[2:8]) & 0xFF != frame[8]:
            return "checksum"
        return "ok"

    def _decode(self, frame: bytes) -> dict[str, float]:
        return {
            "pm2_5": (frame[3] << 8 | frame[2]) / 10,
            "pm10": (frame[5] << 8 | frame[4]) / 10,
        }


# Data words of a PMS5003 frame in order (word 13 is reserved). "cf1" concentrations are the
# maker's "standard particle" (CF=1) values, published as plain pm1_0/pm2_5/pm10; the
# "atmospheric environment" values carry an _atm suffix. Counts are particles per 0.1 L of air
# with a diameter above the size in the name.
PMS5003_POINTS = (
    "pm1_0", "pm2_5", "pm10",
    "pm1_0_atm", "pm2_5_atm", "pm10_atm",
    "count_0_3um", "count_0_5um", "count_1_0um", "count_2_5um", "count_5_0um", "count_10um",
)


class Pms5003Parser(_BinaryFrameParser):
    """Plantower PMS5003 32-byte frames `42 4D`, length 28, 13 words, 16-bit sum checksum."""

    HEADER = b"\x42\x4d"
    FRAME_LEN = 32
    LENGTH_FIELD = 28

    def _check_early(self, buf: bytearray) -> str | None:
        if len(buf) >= 4 and (buf[2] << 8 | buf[3]) != self.LENGTH_FIELD:
            return "structure"
        return None

    def _check(self, frame: bytes) -> str:
        if sum(frame[:30]) & 0xFFFF != (frame[30] << 8 | frame[31]):
            return "checksum"
        return "ok"

    def _decode(self, frame: bytes) -> dict[str, float]:
        return {
            name: float(frame[4 + 2 * i] << 8 | frame[5 + 2 * i])
            for i, name in enumerate(PMS5003_POINTS)
        }


class AsciiLineParser:
    """Line-based ASCII sensor: each named regex group becomes a float point, optionally scaled.

    The pattern must match the whole line (surrounding whitespace stripped). Bytes before the
    first terminator are dropped when `skip_first_line` is set, because a port opened mid-stream
    starts mid-line and a truncated number could still match.
    """

    def __init__(self, pattern: str, scales: Mapping[str, float] | None = None,
                 terminator: bytes = b"\n", max_line_len: int = 256,
                 skip_first_line: bool = True) -> None:
        self.regex = re.compile(pattern)
        if not self.regex.groupindex:
            raise ValueError(f"pattern {pattern!r} has no named groups: nothing to publish")
        self.scales = dict(scales or {})
        unknown = set(self.scales) - set(self.regex.groupindex)
        if unknown:
            raise ValueError(f"scales name groups not in the pattern: {sorted(unknown)}")
        if not terminator:
            raise ValueError("terminator must not be empty")
        self.terminator = bytes(terminator)
        self.max_line_len = max_line_len
        self.counters = LineCounters()
        self._buf = bytearray()
        self._skip_first_line = skip_first_line
        self._discarding = skip_first_line  # dropping bytes up to the next terminator

    def reset(self) -> None:
        """Forget buffered bytes (the port was reopened); counters keep running."""
        self._buf.clear()
        self._discarding = self._skip_first_line

    def feed(self, data: bytes, ts: float) -> list[Reading]:
        """Consume a chunk of bytes and return a reading for every complete matching line."""
        self._buf += data
        out: list[Reading] = []
        term = self.terminator
        while True:
            end = self._buf.find(term)
            if end < 0:
                self._limit_partial_line()
                return out
            line = bytes(self._buf[:end])
            del self._buf[:end + len(term)]
            if self._discarding:
                self._end_discard(len(line) + len(term))
                continue
            if len(line) > self.max_line_len:
                self._line_fault("lines_overlong")
                self.counters.resync_bytes_dropped += len(line) + len(term)
                continue
            values = self._parse(line)
            if values is not None:
                self.counters.frames_ok += 1
                out.append(_reading(ts, values))

    def _limit_partial_line(self) -> None:
        # an unterminated line past the limit can never be accepted: drop it now to bound memory
        keep = len(self.terminator) - 1
        if self._discarding:
            self._drop_partial(keep)
        elif len(self._buf) > self.max_line_len + keep:
            self._discarding = True
            self._line_fault("lines_overlong")
            self._drop_partial(keep)

    def _drop_partial(self, keep: int) -> None:
        # keep the tail that might be the start of a multi-byte terminator
        n = max(0, len(self._buf) - keep)
        del self._buf[:n]
        self.counters.resync_bytes_dropped += n

    def _end_discard(self, n: int) -> None:
        self.counters.resync_bytes_dropped += n
        self._discarding = False

    def _line_fault(self, counter: str) -> None:
        setattr(self.counters, counter, getattr(self.counters, counter) + 1)
        self.counters.bad_frames += 1

    def _parse(self, line: bytes) -> dict[str, float] | None:
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError:
            self._line_fault("lines_not_utf8")
            return None
        if not text:
            return None  # blank lines are keep-alives on some sensors, not faults
        match = self.regex.fullmatch(text)
        values: dict[str, float] = {}
        for name, raw in (match.groupdict() if match else {}).items():
            if raw is None:
                continue  # an optional group that did not take part
            try:
                value = float(raw) * self.scales.get(name, 1.0)
            except ValueError:
                match = None
                break
            if not math.isfinite(value):
                match = None
                break
            values[name] = value
        if match is None or not values:
            self._line_fault("lines_unmatched")
            return None
        return values


def make_parser(kind: str, **options) -> "Sds011Parser | Pms5003Parser | AsciiLineParser":
    """Build the parser for a sensor kind: 'sds011', 'pms5003' or 'ascii' (takes options)."""
    if kind == "sds011":
        return Sds011Parser()
    if kind == "pms5003":
        return Pms5003Parser()
    if kind == "ascii":
        return AsciiLineParser(**options)
    raise ValueError(f"unknown serial sensor kind {kind!r}: expected sds011, pms5003 or ascii")
