"""Simulated serial air-quality sensors: SDS011, PMS5003 and ASCII frames written to a pty.

The frame builders are pure; `SerialSensorEmitter` owns a pseudo-terminal pair and writes frames at
the sensor's rate, optionally with injected noise, so a reader can open the slave path with pyserial
exactly as it would open /dev/ttyUSB0.
"""

import asyncio
import os
import random
import struct
import tty
from collections import deque
from dataclasses import dataclass
from typing import Callable, Mapping

KINDS = ("sds011", "pms5003", "ascii")
DEFAULT_RATE_HZ = {"sds011": 1.0, "pms5003": 1.0, "ascii": 1.0}  # SDS011 datasheet: 1 Hz
ASCII_TEMPLATE = "PM2.5={pm2_5:.1f} PM10={pm10:.1f}\r\n"
ASCII_PATTERN = r"PM2\.5=(?P<pm2_5>\d+\.\d) PM10=(?P<pm10>\d+\.\d)"  # matches ASCII_TEMPLATE


def sds011_frame(pm2_5: float, pm10: float, device_id: int = 0xA160) -> bytes:
    """One SDS011 data frame; concentrations in µg/m³, sent in tenths, little-endian."""
    data = struct.pack("<HHH", _u16(pm2_5 * 10), _u16(pm10 * 10), device_id)
    return b"\xaa\xc0" + data + bytes([sum(data) & 0xFF]) + b"\xab"


def pms5003_frame(pm1_0: float, pm2_5: float, pm10: float, *,
                  atm: tuple[float, float, float] | None = None,
                  counts: tuple[int, int, int, int, int, int] | None = None) -> bytes:
    """One PMS5003 frame: CF=1 and atmospheric concentrations (µg/m³), counts per 0.1 L."""
    if atm is None:
        # the maker's atmospheric values sit below CF=1 at high loads; a fixed ratio is plausible
        atm = (pm1_0 * 0.9, pm2_5 * 0.9, pm10 * 0.9)
    if counts is None:
        counts = (int(pm1_0 * 60), int(pm1_0 * 18), int(pm2_5 * 4), int(pm2_5 * 0.6),
                  int(pm10 * 0.2), int(pm10 * 0.05))
    words = [_u16(v) for v in (pm1_0, pm2_5, pm10, *atm)] + [_u16(c) for c in counts] + [0]
    body = b"\x42\x4d" + struct.pack(">H13H", 28, *words)
    return body + struct.pack(">H", sum(body) & 0xFFFF)


def ascii_line(values: Mapping[str, float], template: str = ASCII_TEMPLATE) -> bytes:
    """One text line of a generic ASCII sensor, formatted from the values."""
    return template.format(**values).encode("ascii")


def _u16(value: float) -> int:
    return max(0, min(0xFFFF, int(round(value))))


class DustModel:
    """PM2.5 wandering between 15 and 80 µg/m³ with PM10 a little above it; seeded."""

    def __init__(self, rng: random.Random, low: float = 15.0, high: float = 80.0) -> None:
        self._rng = rng
        self.low, self.high = low, high
        self.pm2_5 = rng.uniform(low, (low + high) / 2)

    def step(self) -> dict[str, float]:
        """Advance one sample and return pm1_0, pm2_5 and pm10 rounded to 0.1 µg/m³."""
        self.pm2_5 += self._rng.gauss(0.0, 1.5)
        if not self.low <= self.pm2_5 <= self.high:  # reflect at the bounds
            self.pm2_5 = min(max(self.pm2_5, 2 * self.low - self.pm2_5), 2 * self.high - self.pm2_5)
        pm10 = self.pm2_5 * self._rng.uniform(1.3, 1.7)
        return {"pm1_0": round(self.pm2_5 * 0.7, 1), "pm2_5": round(self.pm2_5, 1),
                "pm10": round(pm10, 1)}


@dataclass(frozen=True)
class Noise:
    """Line faults to inject, each drawn per frame from the emitter's seeded RNG."""

    garbage_rate: float = 0.0  # chance of random bytes before a frame
    garbage_max_bytes: int = 8
    corrupt_rate: float = 0.0  # chance of a broken checksum (ASCII: a non-UTF-8 byte)


@dataclass(frozen=True)
class SentFrame:
    """What the emitter sent, so tests can compare it with what a reader decoded."""

    values: Mapping[str, float]
    corrupted: bool
    delivered: bool  # False when the pty was full and the frame was dropped


def build_frame(kind: str, values: Mapping[str, float], template: str = ASCII_TEMPLATE) -> bytes:
    """Encode one sample as a frame of the given sensor kind."""
    if kind == "sds011":
        return sds011_frame(values["pm2_5"], values["pm10"])
    if kind == "pms5003":
        return pms5003_frame(values["pm1_0"], values["pm2_5"], values["pm10"])
    if kind == "ascii":
        return ascii_line(values, template)
    raise ValueError(f"unknown serial sensor kind {kind!r}: expected one of {', '.join(KINDS)}")


def corrupt(kind: str, frame: bytes, rng: random.Random) -> bytes:
    """Break a frame the way a noisy line would: checksum bits flipped, or a non-UTF-8 byte."""
    out = bytearray(frame)
    if kind == "ascii":
        out[rng.randrange(len(out) - 2)] = 0xFF
    else:
        out[-2 if kind == "sds011" else -1] ^= 1 << rng.randrange(8)
    return bytes(out)


class SerialSensorEmitter:
    """A simulated sensor on a pty pair: `open()` gives the slave path, `start()` begins sending."""

    def __init__(self, kind: str, rate_hz: float | None = None, noise: Noise | None = None,
                 seed: int | None = None, max_frames: int | None = None,
                 ascii_template: str = ASCII_TEMPLATE, log_size: int = 10_000) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown serial sensor kind {kind!r}: expected {', '.join(KINDS)}")
        self.kind = kind
        self.rate_hz = rate_hz or DEFAULT_RATE_HZ[kind]
        self.noise = noise or Noise()
        self.max_frames = max_frames
        self.ascii_template = ascii_template
        self._rng = random.Random(seed)
        self._model = DustModel(self._rng)
        self.sent: deque[SentFrame] = deque(maxlen=log_size)
        self.frames_sent = self.frames_corrupted = self.frames_dropped = self.garbage_bytes = 0
        self.finished = asyncio.Event()  # set once max_frames have been written
        self.path: str | None = None
        self._master = self._slave = -1
        self._task: asyncio.Task | None = None

    def open(self) -> str:
        """Create the pty pair in raw mode and return the slave device path for the reader."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)  # a real UART never waits for its listener
        self.path = os.ttyname(self._slave)
        return self.path

    def start(self) -> None:
        """Begin writing frames at rate_hz (opening the pty first if needed)."""
        if self.path is None:
            self.open()
        self._task = asyncio.get_running_loop().create_task(
            self._emit_loop(), name=f"sim.serial.{self.kind}.emit")

    async def stop(self) -> None:
        """Stop writing and close the pty; a reader of the slave then sees the port vanish."""
        task, self._task = self._task, None
        try:
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    if asyncio.current_task().cancelling():
                        raise  # our caller is being cancelled too: let that through
        finally:
            for fd in (self._master, self._slave):
                if fd >= 0:
                    os.close(fd)
            self._master = self._slave = -1

    async def wait(self) -> None:
        """Wait until the emission task ends: max_frames written, or cancelled."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _emit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.rate_hz
        next_at = loop.time()
        while self.max_frames is None or self.frames_sent < self.max_frames:
            self._send(self._model.step())
            next_at += period
            # pacing at the sensor's own rate, scheduled on absolute times so it does not drift
            await asyncio.sleep(max(0.0, next_at - loop.time()))
        self.finished.set()

    def _send(self, values: dict[str, float]) -> None:
        frame = build_frame(self.kind, values, self.ascii_template)
        bad = self._rng.random() < self.noise.corrupt_rate
        if bad:
            frame = corrupt(self.kind, frame, self._rng)
        if self._rng.random() < self.noise.garbage_rate:
            junk = self._rng.randbytes(self._rng.randint(1, self.noise.garbage_max_bytes))
            frame = junk + frame
            self.garbage_bytes += len(junk)
        try:
            written = os.write(self._master, frame)
        except BlockingIOError:
            written = 0
        delivered = written == len(frame)
        self.frames_sent += 1
        self.frames_corrupted += bad
        self.frames_dropped += not delivered
        self.sent.append(SentFrame(values, bad, delivered))


async def run_serial_sensor(kind: str, rate_hz: float | None = None, noise: Noise | None = None,
                            seed: int | None = None,
                            on_ready: Callable[[str], None] | None = None) -> None:
    """Run one simulated sensor until cancelled; on_ready(path) gets the pty slave to open."""
    emitter = SerialSensorEmitter(kind, rate_hz, noise, seed)
    path = emitter.open()
    try:
        if on_ready is not None:
            on_ready(path)
        emitter.start()
        await emitter.wait()
    finally:
        await emitter.stop()
