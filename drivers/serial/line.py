"""Serial sensor adapter: reads a pyserial port from the asyncio loop and yields parsed readings.

The port's file descriptor is watched with `loop.add_reader`, so bytes are handled as they arrive
and nothing sleeps or polls. Every pyserial failure becomes a `DeviceError` that names the port and
says what to check; the supervisor decides when to reopen.
"""

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Mapping

import serial

from drivers.errors import DeviceError
from drivers.serial.parsers import Reading, make_parser
from drivers.serial.port import open_port

READ_CHUNK = 4096


@dataclass(frozen=True)
class SerialSensorConfig:
    """Plain description of one serial sensor (validated by agent/config/models.py, not here)."""

    name: str
    kind: str  # sds011 | pms5003 | ascii
    port: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"  # N | E | O
    stopbits: float = 1
    silence_timeout_s: float = 30.0  # no valid frame for this long is a device error
    # ascii only
    pattern: str | None = None
    scales: Mapping[str, float] = field(default_factory=dict)
    terminator: str = "\n"
    max_line_len: int = 256


def parser_for(config: SerialSensorConfig):
    """Build the frame parser a config describes."""
    if config.kind != "ascii":
        return make_parser(config.kind)
    if not config.pattern:
        raise ValueError(f"serial sensor {config.name}: kind ascii needs a pattern")
    return make_parser("ascii", pattern=config.pattern, scales=config.scales,
                       terminator=config.terminator.encode("utf-8"),
                       max_line_len=config.max_line_len)


class SerialSensor:
    """One opened serial sensor: `async for reading in sensor`, or `await sensor.read_loop(cb)`."""

    def __init__(self, config: SerialSensorConfig, *, clock: Callable[[], float] = time.time,
                 buffer_size: int = 64) -> None:
        self.config = config
        self.parser = parser_for(config)
        self._clock = clock
        self._pending: deque[Reading] = deque()
        self._buffer_size = buffer_size
        self._ready = asyncio.Event()
        self._error: DeviceError | None = None
        self._port: serial.Serial | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.readings_dropped = 0  # the consumer fell behind by more than buffer_size
        self.bytes_received = 0

    def open(self) -> None:
        """Open (or reopen) the port without blocking and start watching it on the running loop."""
        self.close()
        self._error = None
        self.parser.reset()  # half a frame from before the reopen must not join the new stream
        cfg = self.config
        # timeout=0: read() returns what the kernel already holds; the loop tells us when
        self._port = open_port(cfg.name, cfg.port, cfg.baudrate, cfg.parity, cfg.stopbits,
                               cfg.bytesize)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._port.fileno(), self._on_readable)

    def close(self) -> None:
        """Stop watching and close the port; safe to call twice."""
        if self._port is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(self._port.fileno())
        try:
            self._port.close()
        except (serial.SerialException, OSError):
            pass  # the device is already gone; nothing left to release
        self._port = None

    async def __aenter__(self) -> "SerialSensor":
        self.open()
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.close()

    def counters(self) -> dict[str, int]:
        """Parser counters plus adapter totals, for status reports."""
        return {**self.parser.counters.as_dict(), "readings_dropped": self.readings_dropped,
                "bytes_received": self.bytes_received}

    def _on_readable(self) -> None:
        try:
            data = self._port.read(READ_CHUNK)
        except (serial.SerialException, OSError) as exc:
            # an unplugged USB adapter stays "readable" forever: stop watching before reporting
            self._loop.remove_reader(self._port.fileno())
            self._error = DeviceError(
                self.config.name, "read",
                f"serial port {self.config.port} disappeared ({exc}); check the USB adapter and "
                "cable - the sensor is reopened when the port is back")
            self._error.__cause__ = exc
            self._ready.set()
            return
        self.bytes_received += len(data)
        for reading in self.parser.feed(data, self._clock()):
            if len(self._pending) >= self._buffer_size:
                self._pending.popleft()
                self.readings_dropped += 1
            self._pending.append(reading)
        if self._pending:
            self._ready.set()

    async def next_reading(self, timeout: float | None = None) -> Reading:
        """Wait for the next valid reading; DeviceError if the port vanished or fell silent."""
        if self._port is None and self._error is None:
            raise DeviceError(self.config.name, "read", f"serial port {self.config.port} is not "
                              "open; call open() first")
        timeout = self.config.silence_timeout_s if timeout is None else timeout
        deadline = asyncio.get_running_loop().time() + timeout
        bytes_before = self.bytes_received
        while not self._pending:
            if self._error is not None:
                raise self._error
            self._ready.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                # not wait_for: on CPython 3.11 it returns the result when a cancel lands in the
                # step the event is set (gh-86296), and read_loop then read on after its stop
                async with asyncio.timeout(max(0.0, remaining)):
                    await self._ready.wait()
            except TimeoutError:
                raise self._silence_error(timeout, self.bytes_received - bytes_before) from None
        return self._pending.popleft()

    def _silence_error(self, timeout: float, new_bytes: int) -> DeviceError:
        c = self.parser.counters
        if new_bytes == 0:
            hint = "no bytes at all: check power and that sensor TX goes to the adapter's RX"
        else:
            hint = (f"{new_bytes} bytes but no valid frame ({c.bad_checksum} bad "
                    f"checksums, {c.bad_frames} bad frames): check baudrate "
                    f"{self.config.baudrate} and kind {self.config.kind!r}")
        return DeviceError(self.config.name, "read", f"no valid reading on "
                           f"{self.config.port} for {timeout:g} s; {hint}")

    def __aiter__(self) -> "SerialSensor":
        return self

    async def __anext__(self) -> Reading:
        return await self.next_reading()

    async def read_loop(self, on_reading: Callable[[Reading], None]) -> None:
        """Hand every reading to on_reading(reading) until a DeviceError ends the loop."""
        while True:
            on_reading(await self.next_reading())
