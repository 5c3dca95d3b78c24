"""The task `talq.sampling`: takes the samples of the periodic loggers (agent/talq/sampling.py)
at their instants, from the live functions, into the outbox for the TALQ interface only."""

import asyncio
import logging

from agent import status
from agent.store.outbox import ROUTINE
from agent.store.outbox_db import INTERFACES
from agent.talq.attributes import iso
from agent.talq.catalog import Catalog
from agent.talq.loggers import in_sources
from agent.talq.periods import active
from agent.talq.sampling import SAMPLE, changed, first_instant
from agent.talq.schedule import gateway_zone

log = logging.getLogger(__name__)


class Sampler:
    """`store` is the LoggerStore; `due` holds, per (logger, profile), the logger it was
    planned for (a replaced logger starts anew) and its next instant."""

    def __init__(self, site, talq, store):
        self.site, self.talq, self.store = site, talq, store
        self.due: dict[tuple, tuple] = {}
        self.last: dict[tuple, object] = {}      # (logger, address, function, name) -> value
        self.zone = gateway_zone(site)
        self.samples = 0

    def _plan(self, now: float) -> None:
        planned = {}
        for address, logger in self.store.loggers.items():
            periodic = logger.get("periodic")
            for i, profile in enumerate(periodic["profiles"] if periodic else ()):
                kept = self.due.get((address, i))
                if kept is not None and kept[0] is logger:
                    planned[(address, i)] = kept
                elif (when := first_instant(profile, now)) is not None:
                    planned[(address, i)] = (logger, when)
        self.due = planned

    async def sample_loop(self) -> None:
        while True:
            now = self.site.clock.wall()
            self._plan(now)
            for key, (logger, when) in list(self.due.items()):
                if when > now:
                    continue
                self._sample(key[0], logger, when)
                start, period, end = logger["periodic"]["profiles"][key[1]]
                following = None if period is None else when + period * max(
                    1, -(-(now - when) // period))      # late: skip the instants missed
                if following is None or end is not None and following > end:
                    self.due[key] = (logger, float("inf"))    # this profile is done
                else:
                    self.due[key] = (logger, following)
            await self._until_due_or_changed()

    async def _until_due_or_changed(self) -> None:
        changed_ = self.store.changed
        left = min((when for _, when in self.due.values()), default=float("inf"))
        rate = getattr(self.site.clock, "rate", 1.0) or 1.0            # a warped clock
        wait = (left - self.site.clock.wall()) / rate
        if wait > 0:
            try:
                await asyncio.wait_for(changed_.wait(), None if wait == float("inf") else wait)
            except asyncio.TimeoutError:
                pass
        changed_.clear()

    def _sample(self, address: str, logger: dict, when: float) -> None:
        """One sample of the logger's content, from every device it applies to."""
        lat, lon = self.site.config.gateway.location.lat, self.site.config.gateway.location.lon
        if not active(logger["periods"], when, self.zone, lat, lon):
            return
        catalog = Catalog(self.site, self.talq)
        for device_address in catalog.order:
            device = catalog.by_address[device_address]
            device_id = "gateway" if device is None else device.id
            if not in_sources(logger, device_id):
                continue
            for function in catalog.functions(device_address):
                for name, value in self._values(logger, function):
                    key = (address, device_address, function["id"], name)
                    threshold = value.pop("threshold")
                    if not changed(self.last.get(key), value["value"], threshold):
                        continue
                    self.last[key] = value["value"]
                    self._put(device_id, address, {
                        "type": "AttributeLogData",
                        "srcAddress": f"{device_address}/{function['id']}",
                        "timestamp": iso(when), "attributeName": name,
                        "attributeValue": value})
        self.samples += 1

    @staticmethod
    def _values(logger: dict, function: dict) -> list:
        out = []
        for fid, ftype, names in logger["periodic"]["content"]:
            if fid not in (None, function["id"]) or ftype not in (None, function["type"]):
                continue
            wanted = names or [(n, None) for n in function if n not in ("id", "type")]
            for name, threshold in wanted:
                if isinstance(function.get(name), dict):
                    out.append((name, {**function[name], "threshold": threshold}))
        return out

    def _put(self, device_id: str, logger: str, data: dict) -> None:
        self.site.outbox.put(self.site.uplink.topics.events(device_id), device_id, ROUTINE,
                             status.wall_ms(), {"event": SAMPLE, "logger": logger,
                                                "data": data}, INTERFACES["talq"])
