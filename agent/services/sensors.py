"""Serial sensor service: reads one sensor, averages over the publish window, emits readings."""

import asyncio
import logging
import time

from agent.errors import DeviceError
from drivers.serial.line import SerialSensor, SerialSensorConfig

log = logging.getLogger(__name__)

REOPEN_DELAY_S = 5.0


class SerialSensorService:
    """Turns a 1 Hz stream of frames into one averaged reading per publish window."""

    def __init__(self, config: SerialSensorConfig, publish_every: float, sink, wall_ms,
                 clock=time.monotonic):
        self.config = config
        self.publish_every = publish_every
        self.sink = sink
        self.wall_ms = wall_ms
        self.clock = clock
        self.sensor = SerialSensor(config)
        self.failing = False
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._window_end = 0.0

    async def run_loop(self) -> None:
        """Read forever; a failing port is reported, closed and re-opened after a pause."""
        while True:
            try:
                self.sensor.open()
                self._window_end = self.clock() + self.publish_every
                while True:
                    self._add(await self.sensor.next_reading())
                    if self.clock() >= self._window_end:
                        self._emit()
            except DeviceError as exc:
                self._failed(exc)
            finally:
                self.sensor.close()
            await asyncio.sleep(REOPEN_DELAY_S)

    def _add(self, reading) -> None:
        if self.failing:
            log.info("serial sensor %s: readings again", self.config.name)
            self.failing = False
        for point, value in reading.values.items():
            self._sums[point] = self._sums.get(point, 0.0) + value
            self._counts[point] = self._counts.get(point, 0) + 1

    def _emit(self) -> None:
        values = {p: round(self._sums[p] / self._counts[p], 3) for p in self._sums}
        samples = max(self._counts.values(), default=0)
        self._sums, self._counts = {}, {}
        self._window_end += self.publish_every
        if self._window_end < self.clock():       # we fell behind: don't emit a burst
            self._window_end = self.clock() + self.publish_every
        self.sink({"device": self.config.name, "ts": self.wall_ms(), "values": values,
                   "quality": "good", "samples": samples,
                   "counters": self.sensor.counters()})

    def _failed(self, exc: DeviceError) -> None:
        if not self.failing:                       # log once per state change
            log.warning("%s", exc)
        self.failing = True
        self._sums, self._counts = {}, {}
        self.sink({"device": self.config.name, "ts": self.wall_ms(), "values": {},
                   "quality": "comm_error", "error": str(exc),
                   "counters": self.sensor.counters()})
