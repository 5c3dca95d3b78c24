"""Virtual time for the core tests: a clock that only moves when the code under test waits."""

import asyncio

from drivers.errors import DeviceError


class VirtualClock:
    """Monotonic seconds that advance on simulated work and idle waits."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def wall_ms(self) -> int:
        """Epoch milliseconds matching the virtual clock."""
        return int(self.now * 1000)

    async def wait(self, event, timeout: float) -> bool:
        """Idle wait: jump the clock forward unless the event is already set."""
        await asyncio.sleep(0)
        if event.is_set():
            return True
        self.now += timeout
        return False

    async def work(self, seconds: float) -> None:
        """A bus transaction that takes `seconds` of bus time."""
        self.now += seconds
        await asyncio.sleep(0)


class FakeDevice:
    """A device whose reads cost bus time and can be made to fail."""

    def __init__(self, clock: VirtualClock, device_id: str, service_s: float = 0.01,
                 log: list = None):
        self.clock = clock
        self.device_id = device_id
        self.service_s = service_s
        self.dead = False
        self.reads = []          # virtual times of read attempts
        self.log = log if log is not None else []
        self.value = 0

    async def read(self) -> dict:
        """One poll."""
        self.reads.append(self.clock.now)
        self.log.append(("read", self.device_id))
        if self.dead:
            await self.clock.work(0.3)          # the timeout budget
            raise DeviceError(self.device_id, "read", "no reply within 0.3 s")
        await self.clock.work(self.service_s)
        self.value += 1
        return {"value": self.value}


class Collector:
    """A recording sink."""

    def __init__(self):
        self.readings = []

    def __call__(self, reading: dict) -> None:
        self.readings.append(reading)

    def of(self, device_id: str) -> list:
        """Readings of one device."""
        return [r for r in self.readings if r["device"] == device_id]
