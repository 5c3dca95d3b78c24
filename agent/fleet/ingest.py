"""`lentera fleet ingest`: one worker of a shared-subscription group, MQTT 5 -> PostgreSQL.

Loop: wait for messages, gather for `batch_window` or until `batch_max`, drop those of
unknown gateways (counted), commit the rest in one transaction (agent/fleet/writer.py), then
PUBACK them all. A worker killed between commit and PUBACK loses nothing (the broker
redelivers, `received` drops the duplicates); one killed before the commit loses nothing
either (nothing was acked). While the database is away the batch is retried with
back-off and nothing is acked; the broker stops sending at Receive Maximum.
"""

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from agent.fleet import db
from agent.fleet.broker import BrokerError
from agent.fleet.mqtt import SharedSubscriber
from agent.fleet.writer import BatchWriter

log = logging.getLogger("lentera.fleet.ingest")
REGISTRY_REFRESH_S = 5.0


@dataclass
class IngestStats:
    """Running counters of one worker (printed as progress, read by tests and the bench)."""
    received: int = 0
    written: int = 0
    duplicates: int = 0
    rejected: dict = field(default_factory=dict)      # reason -> count
    batches: int = 0
    acked: int = 0
    db_retries: int = 0

    def line(self) -> str:
        """One progress line."""
        bad = sum(self.rejected.values())
        return (f"received {self.received}  written {self.written}  duplicates "
                f"{self.duplicates}  rejected {bad}  batches {self.batches}  "
                f"db retries {self.db_retries}")


class IngestWorker:
    """One worker; `run()` until `stop()`."""

    def __init__(self, broker_url: str, dsn: str, group: str, client_id: str,
                 prefix: str = "city/lighting", batch_max: int = 2000,
                 batch_window: float = 0.05, receive_max: int = 4000):
        self.dsn, self.batch_max, self.batch_window = dsn, batch_max, batch_window
        self.mqtt = SharedSubscriber(broker_url, group, client_id, prefix, receive_max)
        self.stats = IngestStats()
        self.gateways: set[str] = set()
        self._registry_at = 0.0
        self._writer: BatchWriter | None = None
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the batch in hand (commit + ack), then return from run()."""
        self._stopping.set()

    async def run(self) -> None:
        """Connect to the database and the broker, then ingest until stopped."""
        await self._connect_db()
        self.mqtt.start(asyncio.get_running_loop())
        try:
            while not self._stopping.is_set():
                batch = await self._gather()
                if batch:
                    await self._commit(batch)
        finally:
            self.mqtt.stop()
            if self._writer:
                await self._writer.conn.close()

    async def _gather(self) -> list:
        stop = asyncio.ensure_future(self._stopping.wait())
        ready = asyncio.ensure_future(self.mqtt.ready.wait())
        try:
            await asyncio.wait({stop, ready}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            ready.cancel()
        if self._stopping.is_set():
            return []
        if self.mqtt.fatal:
            # a certificate we refuse will not change by waiting: say so and stop
            raise BrokerError(f"broker {self.mqtt.address.url}: {self.mqtt.fatal}; check "
                              "ca_file (and that the URL names the host the certificate is for)")
        if self.mqtt.pending() < self.batch_max:
            # a commit per message would cost a round trip each: gather a little first
            await asyncio.sleep(self.batch_window)
        return self.mqtt.take(self.batch_max)

    async def _connect_db(self) -> None:
        delay = 0.2
        while True:
            try:
                conn = await db.connect(self.dsn)
                self.gateways = await db.known_gateways(conn)
                self._registry_at = time.monotonic()
                self._writer = BatchWriter(conn)
                return
            except Exception as exc:
                if not db.is_transient(exc):
                    raise
                log.warning("database not reachable (%s); retrying in %.1f s", exc, delay)
                self.stats.db_retries += 1
                await asyncio.sleep(delay * random.uniform(0.5, 1))
                delay = min(delay * 2, 5)

    async def _refresh_registry(self, batch: list) -> None:
        unknown = any(d.record is not None and d.gateway not in self.gateways for d in batch)
        if unknown and time.monotonic() - self._registry_at > REGISTRY_REFRESH_S:
            self.gateways = await db.known_gateways(self._writer.conn)
            self._registry_at = time.monotonic()

    def _sort(self, batch: list, shed: int) -> tuple[list, dict]:
        """(records to write, reject counters {(gateway, reason): [count, sample]})."""
        records, rejects = [], {("?", "shed_qos0"): [shed, ""]} if shed else {}
        for d in batch:
            reason = d.reason
            if reason is None and d.gateway not in self.gateways:
                reason = "unknown_gateway"
            if reason is None:
                records.append(d.record)
                continue
            # an unknown or forged gateway id is not a row of its own: bounded table
            key = (d.gateway if d.gateway in self.gateways else "?", reason)
            entry = rejects.setdefault(key, [0, d.gateway])
            entry[0] += 1
            self.stats.rejected[reason] = self.stats.rejected.get(reason, 0) + 1
        return records, rejects

    async def _commit(self, batch: list) -> None:
        self.stats.received += len(batch)
        shed = self.mqtt.take_shed()
        if shed:
            self.stats.rejected["shed_qos0"] = self.stats.rejected.get("shed_qos0", 0) + shed
        while True:
            try:
                await self._refresh_registry(batch)
                records, rejects = self._sort(batch, shed)
                result = await self._writer.write(records, rejects)
                break
            except Exception as exc:
                if not db.is_transient(exc) and not self._writer.conn.is_closed():
                    raise
                self.stats.db_retries += 1
                log.warning("commit failed (%s): batch of %d kept, not acked; reconnecting",
                            exc, len(batch))
                self._writer.conn.terminate()
                await self._connect_db()
        for _record, reason in result.rejected:
            self.stats.rejected[reason] = self.stats.rejected.get(reason, 0) + 1
        self.stats.written += result.written
        self.stats.duplicates += result.duplicates
        self.stats.batches += 1
        self.stats.acked += self.mqtt.ack(batch)
