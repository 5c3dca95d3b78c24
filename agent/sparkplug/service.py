"""The edge node as a supervised task: sessions one after another, the outbox drained in each.

Rows bound for Sparkplug (the outbox's `sparkplug` consumer) are read oldest first, translated
by EdgeState and published at once; they are acknowledged to the outbox (in one call) after the
broker's UNSUBACK barrier (agent/sparkplug/node.py), and a barrier goes at most once per
BARRIER_EVERY_S, covering every row sent before it, rather than once per commit. Just-committed
rows come as their in-memory Items (no JSON decode); rows read back from SQLite as JSON.
A session that ends loses nothing: its unacknowledged rows are read again by the next one,
after its NBIRTH, as history. Rebirth requests are served at most once per
`rebirth_min_interval`; more within it are merged into one.
"""

import asyncio
import logging
import time
from collections import deque
from pathlib import Path

from agent.errors import LenteraError
from agent.sparkplug.bdseq import BdSeq
from agent.sparkplug.edge import EdgeState
from agent.sparkplug.node import HostState, Session, new_backoff
from agent.sparkplug.payloads import build_models
from agent.sparkplug.topics import Topics, state_topic

log = logging.getLogger(__name__)

WRITES_MAX = 16        # DCMD writes waiting, as the signed intake bounds its queue
FRESH_MAX = 2000       # just-committed rows held; beyond that they are read back from SQLite
# a barrier costs a wake-up of paho's thread and a round trip; one per commit (50 a second at
# 500 lights) was most of the node's thread time. Rows wait at most this long for their ack,
# which only decides what a new session sends again as history.
BARRIER_EVERY_S = 0.25
# and at the latest after this many rows: the flow control of a backlog (history after an
# outage is read from SQLite as fast as it translates), so paho's write queue stays bounded
IN_FLIGHT_MAX = 1000


class EdgeNode:
    """A Sparkplug B 3.0 edge node for the gateway's devices."""

    def __init__(self, cfg, mqtt_cfg, gateway_id: str, devices: dict, consumer, state_dir,
                 wall_ms):
        self.cfg, self.mqtt = cfg, mqtt_cfg
        self.url = cfg.url or mqtt_cfg.url
        rest = self.url.split("://", 1)[1].rstrip("/")
        self.host = rest.split(":")[0]
        self.port = int(rest.split(":")[1]) if ":" in rest else (
            8883 if self.url.startswith("mqtts") else 1883)
        node_id = cfg.edge_node_id or gateway_id
        self.client_id = f"lentera-spb-{node_id}"
        self.topics = Topics(cfg.group_id, node_id)
        self.wall_ms = wall_ms
        self.edge = EdgeState(self.topics, build_models(devices), wall_ms)
        self.hoststate = HostState()
        self.consumer = consumer
        self.bdseq = BdSeq(Path(state_dir) / cfg.bdseq_file)
        self.wake = asyncio.Event()          # the drain's one wake-up (_drain)
        consumer.on_committed = self.wake.set
        consumer.on_fresh_items = self._on_fresh
        self.fresh: list = []                # just committed (id, topic, Item|None): no SQLite
        self._barrier_at = -BARRIER_EVERY_S  # monotonic time of the last barrier sent
        self._due = None                     # the timer that wakes the drain for a barrier
        self.behind = True                   # SQLite may hold rows that fresh lacks
        self.cursor = 0                      # the newest row id confirmed (or not ours)
        self.rebirth = asyncio.Event()
        self.writes: deque = deque()         # checked DCMD writes for commands_loop
        self.wrote = asyncio.Event()
        self._write_at = 0.0
        self.arbiter = None                  # CityArbiter, and () -> clock trusted: wiring sets
        self.trusted = lambda: False
        self._rebirth_at = 0.0
        self.session: Session | None = None
        self.loop = None
        self.sessions = 0
        self.acked = 0

    def _on_fresh(self, rows: list) -> None:
        fresh = self.fresh
        if not rows or (fresh and rows[0][0] != fresh[-1][0] + 1) \
                or len(fresh) + len(rows) > FRESH_MAX:
            fresh.clear()                    # a gap or a long outage: SQLite has them all
            self.behind = True
        if rows and len(rows) <= FRESH_MAX:
            fresh.extend(rows)

    async def _rows_after(self, cursor: int) -> tuple[list, bool]:
        """The next rows after cursor, and True when they are the fresh ones (Items, when they
        follow on), False when read from SQLite (JSON)."""
        fresh = self.fresh
        while fresh and fresh[0][0] <= cursor:
            del fresh[0]
        if fresh and fresh[0][0] == cursor + 1:
            rows = fresh[:self.cfg.window]
            del fresh[:self.cfg.window]
            return rows, True
        if fresh or self.behind:
            rows = await self.consumer.fetch_after(cursor, self.cfg.window)
            if len(rows) < self.cfg.window and not fresh:
                self.behind = False          # caught up: later commits come as fresh rows
            return rows, False
        return [], False

    def on_message(self, session: Session, topic: str, data: bytes) -> None:
        """STATE, NCMD or DCMD, as the session reads it."""
        if session is not self.session:
            return                           # a message of a session already closed
        if self.cfg.primary_host_id and topic == state_topic(self.cfg.primary_host_id):
            if self.hoststate.update(data):
                self.wake.set()
        else:
            outcome = self.edge.command(topic, data)
            if outcome == "rebirth":
                self.rebirth.set()
                self.wake.set()
            elif outcome is not None:
                self._queue_write(topic, outcome)

    async def run_loop(self) -> None:
        """Sessions forever; the supervisor cancels it at stop (NDEATH, then DISCONNECT)."""
        self.loop = asyncio.get_running_loop()
        backoff = new_backoff(self.cfg)
        bdseq = None
        while True:
            # a new bdSeq per CONNECT the broker took; one that never got a CONNACK (broker
            # down) registered no will, so its number is used again
            if bdseq is None or self.session.connected.is_set():
                bdseq = await self.bdseq.next()
            session = self.session = Session(self, bdseq)
            session.on_end = self.wake.set
            self.sessions += 1
            try:
                # online is learnt anew in every session, before its SUBSCRIBE: the STATE
                # retained on this broker now, or the next one
                # [tck-id-message-flow-edge-node-birth-publish-phid-wait]
                self.hoststate.online = False
                session.start()
                leaving = await self._session(session)
                if leaving:
                    backoff.reset()
            except asyncio.CancelledError:
                await asyncio.shield(session.close(ndeath=True))
                raise
            await session.close(ndeath=True)
            self.edge.publish = None
            await asyncio.sleep(backoff.next())

    async def _until(self, session: Session, *events: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(e.wait()) for e in (session.ended, *events)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _host_online(self, session: Session) -> bool:
        """Wait for the primary host (when configured); False when the session ended."""
        while self.cfg.primary_host_id and not self.hoststate.online:
            self.hoststate.changed.clear()
            await self._until(session, self.hoststate.changed)
            if session.ended.is_set():
                return False
        return not session.ended.is_set()

    async def _session(self, session: Session) -> bool:
        """Births, then rows; True when the host went offline (leave now, come back soon)."""
        await self._until(session, session.connected)
        if not session.connected.is_set():
            return False
        log.info("sparkplug: connected to %s as %s (bdSeq %d)", self.url, self.topics.nbirth,
                 session.bdseq)
        self.edge.publish = session.publish
        while True:
            if not await self._host_online(session):
                return False
            self.rebirth.clear()
            self.edge.birth(session.bdseq)
            self._rebirth_at = time.monotonic()
            outcome = await self._drain(session)
            if outcome != "rebirth":
                return outcome == "host offline"
            self.edge.counts["rebirths"] += 1
            wait = self._rebirth_at + self.cfg.rebirth_min_interval - time.monotonic()
            if wait > 0:                     # a flood of requests: one rebirth per interval
                await asyncio.sleep(wait)

    async def _drain(self, session: Session) -> str:
        """Rows -> DDATA until the session ends, a rebirth is asked or the host goes away."""
        # from the last row a barrier confirmed in this process, not from 0: rows the outbox
        # has not yet committed as acknowledged (it does within its ack window) are not sent
        # again after a rebirth or a new session; the unconfirmed ones after it are
        self.behind = True                   # the last session's unacknowledged rows
        sent = self.cursor                   # the newest row id sent (or not ours)
        unconfirmed: list[int] = []          # ids sent since the last barrier
        try:
            while True:
                if session.ended.is_set():
                    return "ended"           # unconfirmed rows: the next session's history
                leaving = ("host offline" if self.cfg.primary_host_id
                           and not self.hoststate.online
                           else "rebirth" if self.rebirth.is_set() else None)
                if leaving:                  # confirm first: nothing sent twice after a rebirth
                    ok = await self._confirm(session, unconfirmed, sent)
                    return leaving if ok else "ended"
                self.wake.clear()
                rows, fresh = await self._rows_after(sent)
                if rows:
                    translate = self.edge.item if fresh else self.edge.row
                    for row_id, topic, body in rows:
                        if body is not None:     # None: bound for others only
                            translate(topic, body)
                            unconfirmed.append(row_id)
                    sent = rows[-1][0]
                    if not unconfirmed:
                        self.cursor = sent
                wait = self._barrier_at + BARRIER_EVERY_S - time.monotonic()
                if unconfirmed and (wait <= 0 or len(unconfirmed) >= IN_FLIGHT_MAX):
                    if not await self._confirm(session, unconfirmed, sent):
                        return "ended"
                elif rows:
                    # no barrier to wait on: let the loop run (the JSON uplink, the polls)
                    # between passes, or a backlog would hold it for the whole drain
                    await asyncio.sleep(0)
                else:
                    if unconfirmed and self._due is None:
                        self._due = self.loop.call_later(wait, self._barrier_due)
                    await self.wake.wait()   # a commit, a request, STATE, the end, a barrier due
        finally:
            if self._due is not None:
                self._due.cancel()
                self._due = None

    def _barrier_due(self) -> None:
        self._due = None
        self.wake.set()

    async def _confirm(self, session: Session, unconfirmed: list, sent: int) -> bool:
        """One barrier for every row sent so far: then they are acknowledged to the outbox
        in one call, and the cursor moves on. False when the session ended first."""
        if not unconfirmed:
            self.cursor = sent
            return True
        self._barrier_at = time.monotonic()
        self.edge.counts["barriers"] += 1
        if not await session.barrier():
            return False
        self.consumer.ack_many(unconfirmed)
        self.acked += len(unconfirmed)
        unconfirmed.clear()
        self.cursor = sent
        return True

    def _queue_write(self, topic: str, write: tuple) -> None:
        """A checked DCMD write: refused unless enabled, bounded like the signed intake."""
        now = time.monotonic()
        if not self.cfg.commands:
            reason = "sparkplug.commands is off (Sparkplug has no signatures: docs/sparkplug.md)"
        elif len(self.writes) >= WRITES_MAX:
            reason = f"busy: {WRITES_MAX} writes waiting"
        elif now - self._write_at < 1.0 / self.cfg.max_writes_per_s:
            reason = f"more than {self.cfg.max_writes_per_s:g} writes per second"
        else:
            self._write_at = now
            self.writes.append(write)
            self.wrote.set()
            return
        self.edge.counts["commands_refused"] += 1
        log.warning("sparkplug: refused a DCMD on %s: %s", topic, reason)

    async def commands_loop(self) -> None:
        """DCMD writes through the arbitration, as city commands, one at a time."""
        while True:
            await self.wrote.wait()
            self.wrote.clear()
            while self.writes:
                device_id, switch, dim = self.writes.popleft()
                if not self.trusted():
                    self.edge.counts["commands_refused"] += 1
                    log.warning("sparkplug: refused a DCMD for %s: clock_untrusted", device_id)
                    continue
                try:
                    result = await self.arbiter.apply_city_command([device_id], switch, dim,
                                                                   None)
                except LenteraError as exc:   # the field or storage failed: say so, go on
                    result = {device_id: str(exc)}
                self.edge.counts["writes"] += 1
                log.info("sparkplug: DCMD %s switch=%s dim=%s: %s", device_id, switch, dim,
                         result.get(device_id) or "applied")

    def status(self) -> dict:
        """Figures for the status message and the console."""
        return {"sessions": self.sessions, "bdseq": self.bdseq.value, "acked": self.acked,
                "host_online": self.hoststate.online, "state_ignored": self.hoststate.ignored,
                **self.edge.counts}
