"""The task `talq.sampling`: takes the samples of the periodic loggers (agent/talq/sampling.py)
at their instants, from the live functions, into the outbox for the TALQ interface only.

The instants taken and the values last logged outlive a restart (agent/talq/sampler_state.py):
a one-shot profile is taken once, a periodic one never repeats an instant. They are saved
SAVE_AFTER_S after a sample, once the outbox has committed its rows (a power cut in between
takes that sample again after the restart: at least once, never lost), and at stop.
"""

import asyncio
import logging

from agent import status
from agent.store.outbox import ROUTINE
from agent.store.outbox_db import INTERFACES
from agent.store.statefile import write_atomic, write_atomic_off_loop
from agent.talq import sampler_state
from agent.talq.attributes import iso
from agent.talq.catalog import Catalog
from agent.talq.loggers import in_sources
from agent.talq.periods import active
from agent.talq.sampling import SAMPLE, changed, first_instant
from agent.talq.schedule import gateway_zone

log = logging.getLogger(__name__)

SAVE_AFTER_S = 1.0          # the outbox commits within its batch window (20 ms by default)


class Sampler:
    """`store` is the LoggerStore; `due` holds, per (logger, profile), the logger it was
    planned for (a replaced logger starts anew) and its next instant; `taken` the same with
    the last instant taken. `path`: where they are kept across restarts (None: not kept)."""

    def __init__(self, site, talq, store, path=None, on_corrupt=None):
        self.site, self.talq, self.store, self.path = site, talq, store, path
        self.due: dict[tuple, tuple] = {}
        # (logger, address, function, name) -> value, for attributes with an onChangeThreshold
        self.taken, self.last = ({}, {}) if path is None else \
            sampler_state.load(path, store.loggers, on_corrupt)
        self.zone = gateway_zone(site)
        self.samples = 0
        self._save_at = None                 # loop time the state is to be saved at

    def _plan(self, now: float) -> None:
        planned = {}
        for address, logger in self.store.loggers.items():
            periodic = logger.get("periodic")
            for i, profile in enumerate(periodic["profiles"] if periodic else ()):
                kept = self.due.get((address, i))
                if kept is not None and kept[0] is logger:
                    planned[(address, i)] = kept
                elif (when := self._first(address, i, logger, profile, now)) is not None:
                    planned[(address, i)] = (logger, when)
        self.due = planned

    def _first(self, address: str, i: int, logger: dict, profile: tuple, now: float):
        """The first instant to take: after the last one taken, if this logger took one."""
        taken = self.taken.get((address, i))
        if taken is None or taken[0] is not logger:
            return first_instant(profile, now)
        if profile[1] is None:
            return float("inf")              # a one-shot profile, taken (before a restart)
        return first_instant(profile, max(now, taken[1] + 0.001))

    async def sample_loop(self) -> None:
        try:
            await self._sampling()
        finally:                             # stopping: what the last second took is kept
            if self._save_at is not None:
                self._save_now()

    async def _sampling(self) -> None:
        while True:
            now = self.site.clock.wall()
            self._plan(now)
            for key, (logger, when) in list(self.due.items()):
                if when > now:
                    continue
                self._sample(key[0], logger, when)
                self.taken[key] = (logger, when)
                if self.path is not None:
                    self._save_at = asyncio.get_running_loop().time() + SAVE_AFTER_S
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
        if self._save_at is not None:
            save_in = self._save_at - asyncio.get_running_loop().time()
            if save_in <= 0:
                await self._save()
            else:
                wait = min(wait, save_in)
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
        content = logger["periodic"]["content"]
        only = lambda fid, ftype: any(i in (None, fid) and t in (None, ftype)   # noqa: E731
                                      for i, t, _ in content)
        for device_address in catalog.order:
            device = catalog.by_address[device_address]
            device_id = "gateway" if device is None else device.id
            if not in_sources(logger, device_id):
                continue
            for function in catalog.functions(device_address, only):
                for name, value in self._values(logger, function):
                    key = (address, device_address, function["id"], name)
                    threshold = value.pop("threshold")
                    if not changed(self.last.get(key), value["value"], threshold):
                        continue
                    if threshold is not None:        # the only memory changed() needs
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

    def _state(self) -> bytes:
        live = self.store.loggers
        self.taken = {k: v for k, v in self.taken.items() if live.get(k[0]) is v[0]}
        self.last = {k: v for k, v in self.last.items() if k[0] in live}
        return sampler_state.dump(live, self.taken, self.last)

    async def _save(self) -> None:
        self._save_at = None
        try:
            await asyncio.wait_for(write_atomic_off_loop(self.path, self._state()), 10)
        except (OSError, asyncio.TimeoutError) as exc:
            self._not_saved(exc)

    def _save_now(self) -> None:
        """At stop, on the loop: one small file, so the next start does not sample again."""
        try:
            write_atomic(self.path, self._state())
        except OSError as exc:
            self._not_saved(exc)

    def _not_saved(self, exc) -> None:
        log.warning("cannot save the TALQ sampler's state to %s: %s; after a restart a "
                    "one-shot sample may be taken again. Check the disk", self.path, exc)
