"""The arbiter port: how a city command reaches the lights.

The rules engine (edge_rules) will provide an arbitration-backed implementation
that weighs city commands against schedules and failsafes. Until it is wired in,
DirectArbiter writes straight to the devices through their bus scheduler, at
command priority, and restores the previous state when a timed command ends.
"""

import asyncio
import logging

from agent.core.bus import PRIORITY_COMMAND
from agent.errors import DeviceError

log = logging.getLogger(__name__)


class CityArbiter:
    """Port: apply a city command to devices; returns {device_id: None or error text}."""

    async def apply_city_command(self, device_ids: list[str], switch: bool | None,
                                 dim: int | None, duration_s: float | None) -> dict:
        """Switch and/or dim the devices, for duration_s (None: until told otherwise)."""
        raise NotImplementedError


class DirectArbiter(CityArbiter):
    """No arbitration: write to the devices now; restore what they held when time is up."""

    def __init__(self, devices: dict, schedulers: dict, later=None):
        self.devices = devices          # device id -> ModbusDevice
        self.schedulers = schedulers    # device id -> BusScheduler of its bus
        # later(name, delay_s, coroutine function): the supervisor's owned timers; None: own tasks
        self.later = later
        self._holds: dict[str, object] = {}
        self._reverts: set = set()

    async def apply_city_command(self, device_ids, switch, dim, duration_s):
        """Write switch/dim to each device (buses in parallel); per-device outcome."""
        results = await asyncio.gather(*(self._apply(d, switch, dim, duration_s)
                                         for d in device_ids))
        return dict(zip(device_ids, results))

    async def _apply(self, device_id, switch, dim, duration_s):
        device = self.devices[device_id]
        wanted = {k: v for k, v in (("switch", None if switch is None else int(switch)),
                                    ("dim", dim)) if v is not None}

        async def job():
            before = await device.read() if duration_s else {}
            for point, value in wanted.items():
                await device.write(point, value)
            return {k: before[k] for k in wanted if k in before}
        try:
            before = await self.schedulers[device_id].execute(job, PRIORITY_COMMAND)
        except DeviceError as exc:
            return str(exc)
        token = object()
        self._holds[device_id] = token
        if duration_s and self.later is not None:
            self.later(f"revert.{device_id}", duration_s,
                       lambda: self._revert_later(device_id, token, before, 0))
        elif duration_s:
            task = asyncio.create_task(self._revert_later(device_id, token, before, duration_s))
            self._reverts.add(task)
            task.add_done_callback(self._reverts.discard)
        return None

    async def _revert_later(self, device_id, token, before, duration_s):
        await asyncio.sleep(duration_s)
        if self._holds.get(device_id) is not token:
            return                      # a newer command owns the light now
        device = self.devices[device_id]

        async def job():
            for point, value in before.items():
                await device.write(point, value)
        try:
            await self.schedulers[device_id].execute(job, PRIORITY_COMMAND)
        except DeviceError as exc:
            log.warning("city command on %s ended but restoring %s failed: %s", device_id,
                        before, exc)

    def close(self) -> None:
        """Forget pending restores (the agent is stopping)."""
        for task in list(self._reverts):
            task.cancel()
