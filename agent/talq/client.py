"""The gateway as client of the CMS: log reports (spec §5.5) from the durable outbox.

Event rows bound for the "talq" interface (agent/northbound.py) are read in order; those a
logger config records are POSTed to `cmsUri/log-reports`, one LogReport per logger (split
past `report_max_entries`), and a row is acknowledged to the outbox only when every logger
that records it got a 201. Rows no logger records are acknowledged at once. A report the CMS
did not take (timeout, 5xx, a dropped connection) is sent again, with the new records, after
`retry_period`; what the CMS has not acknowledged stays on the card, across outages and
restarts (at least once: after a crash a record may arrive twice).
"""

import asyncio
import logging
import ssl
import uuid

import aiohttp

from agent.talq.catalog import Catalog
from agent.talq.errors import API_VERSION
from agent.talq.loggers import records
from agent.talq.periods import active
from agent.talq.reports import event_of, log_entry, sample_of
from agent.talq.schedule import gateway_zone, next_report

log = logging.getLogger(__name__)
FETCH = 1000
MAX_WAITING = 20_000        # rows held in memory; more wait on the card and are read later


def client_context(talq) -> ssl.SSLContext:
    """TLS 1.2+ towards the CMS (§3.6): its certificate checked against cms_ca, ours shown."""
    context = ssl.create_default_context(cafile=talq.cms_ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(talq.client_cert or talq.tls_cert, talq.client_key or talq.tls_key)
    return context


class LogReporter:
    """Supervised as `talq.reports`; `consumer` is the outbox's "talq" end."""

    def __init__(self, site, talq, store, consumer, ready: asyncio.Event | None = None):
        self.site, self.talq, self.store, self.consumer = site, talq, store, consumer
        self.ready = ready                    # set once bootstrapped: §5.1 sends nothing before
        self.cursor = 0                       # last row id read from the outbox
        self.waiting: dict[int, dict] = {}    # row id -> {logger address: entry} not acked
        self.counts = {"reports": 0, "records": 0, "failures": 0}
        self.last_error: str | None = None
        self.fresh: list = []                 # rows for TALQ just committed, not read yet
        self.from_disk = True                 # rows from before a restart, or past MAX_WAITING
        self.due: dict[str, float] = {}       # logger address -> when its report is due
        self.zone = gateway_zone(site)
        self._wake = asyncio.Event()
        consumer.on_fresh = self._on_fresh    # no query per commit: telemetry is not ours
        self._wake.set()

    def _on_fresh(self, rows: list) -> None:
        mine = [row for row in rows if row[2] is not None]
        if mine:
            self.fresh.extend(mine)
            self._wake.set()

    def status(self) -> dict:
        """For the status message: reports and records the CMS took, failed POSTs, records
        waiting for the CMS, and why the last report was not taken (None: it was)."""
        return {**self.counts, "waiting": len(self.waiting), "cause": self.last_error}

    async def report_loop(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.talq.report_timeout)
        connector = aiohttp.TCPConnector(ssl=client_context(self.talq), limit=1)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while True:
                await self._until_due_or_new()
                await self._take_new()
                if not self.waiting:
                    continue
                if self.ready is not None and not self.ready.is_set():
                    await self._ready_or_new()        # records wait on the card meanwhile
                    self._wake.set()
                    continue
                due = self._due(self.site.clock.wall())
                if not due:
                    continue                          # asleep until the first one is due
                if not await self._send_all(session, due):
                    await asyncio.sleep(self.talq.retry_period)
                    self._wake.set()
                elif self.from_disk:             # more waited on the card than in memory
                    self._wake.set()

    async def _until_due_or_new(self) -> None:
        """Until new rows come, or the first logger's report is due."""
        wanted = {a for found in self.waiting.values() for a in found if a in self.store.loggers}
        self.due = {a: when for a, when in self.due.items() if a in wanted}
        if self.due:
            rate = getattr(self.site.clock, "rate", 1.0) or 1.0      # a warped clock
            left = (min(self.due.values()) - self.site.clock.wall()) / rate
            if left > 0:
                try:
                    async with asyncio.timeout(left):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        else:
            await self._wake.wait()
        self._wake.clear()

    def _due(self, now: float) -> set:
        """Each logger with records waiting gets a due time, from its first record on and not
        prolonged (what comes meanwhile goes in the same report): ImmediateReportingMode its
        delay, ScheduledReportingMode its next time plus 0..randomTime s. The loggers due."""
        for found in self.waiting.values():
            for address in found:
                logger = self.store.loggers.get(address)
                if logger is not None and address not in self.due:
                    schedule = logger.get("schedule")
                    self.due[address] = now + logger["delay"] if schedule is None else \
                        next_report(schedule, now, self.zone)
        return {a for a, when in self.due.items() if when <= now}

    async def _ready_or_new(self) -> None:
        """Until the bootstrap is done (§5.1: nothing else is sent before) or new rows come."""
        waits = [asyncio.ensure_future(self.ready.wait()),
                 asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        self._wake.clear()

    async def _take_new(self) -> None:
        catalog = Catalog(self.site, self.talq)
        if self.from_disk:
            self.from_disk = False
            while rows := await self.consumer.fetch_after(self.cursor, FETCH):
                if not self._take(rows, catalog) or len(rows) < FETCH:
                    break
        rows, self.fresh = self.fresh, []
        if not self.from_disk:
            self._take([row for row in rows if row[0] > self.cursor], catalog)

    def _take(self, rows: list, catalog) -> bool:
        """Read rows in order; False (and from_disk) when memory is full before the end."""
        for row_id, topic, payload in rows:
            if len(self.waiting) >= MAX_WAITING:
                self.from_disk = True
                return False
            self.cursor = row_id
            found = self._entries(catalog, topic, payload)
            if found:
                self.waiting[row_id] = found
            else:
                self.consumer.ack(row_id)         # nothing for the CMS in it
        return True

    def _entries(self, catalog, topic: str, payload: str) -> dict:
        sample = sample_of(topic, payload)
        if sample is not None:                    # a periodic logger's AttributeLogData
            return {sample[0]: {"data": sample[1]}} if sample[0] in self.store.loggers else {}
        event = event_of(topic, payload)
        if event is None:
            return {}
        address = self.talq.gateway_address if event[0] == "gateway" else \
            catalog.address_of(event[0])
        where = self.site.config.gateway.location
        return {name: log_entry(address, event) for name, logger in self.store.loggers.items()
                if records(logger, event[0], event[1]) and
                active(logger["periods"], event[4], self.zone, where.lat, where.lon)}

    async def _send_all(self, session, due: set) -> bool:
        """One pass over the due loggers' waiting records; True when the CMS took them all."""
        by_logger: dict[str, list] = {}
        for row_id in sorted(self.waiting):
            for address, entry in list(self.waiting[row_id].items()):
                if address not in self.store.loggers:       # deleted meanwhile
                    del self.waiting[row_id][address]
                elif address in due:
                    by_logger.setdefault(address, []).append((row_id, entry))
        ok = True
        for address, items in by_logger.items():
            for i in range(0, len(items), self.talq.report_max_entries):
                chunk = items[i:i + self.talq.report_max_entries]
                if not await self._post(session, address, [e for _, e in chunk]):
                    ok = False
                    break
                for row_id, _ in chunk:
                    self.waiting[row_id].pop(address, None)
            else:
                self.due.pop(address, None)       # all taken: the next record starts anew
        for row_id in [r for r, left in self.waiting.items() if not left]:
            del self.waiting[row_id]
            self.consumer.ack(row_id)
        return ok

    async def _post(self, session, address: str, entries: list) -> bool:
        url = self.talq.cms_uri.rstrip("/") + "/log-reports"
        params = {"clientAddress": self.talq.gateway_address, "talqRequestId": str(uuid.uuid4())}
        try:
            async with session.post(url, params=params, json={"address": address,
                                                              "entries": entries},
                                    headers={"talq-api-version": API_VERSION}) as response:
                await response.read()
                if response.status == 201:
                    self.counts["reports"] += 1
                    self.counts["records"] += len(entries)
                    if self.last_error is not None:
                        log.info("TALQ log reports reach the CMS again (%s)", url)
                    self.last_error = None
                    return True
                error = f"the CMS answered {response.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, ssl.SSLError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.counts["failures"] += 1
        if error != self.last_error:          # logged once per state change
            log.warning("TALQ log report to %s not taken (%s); %d record(s) wait on the card, "
                        "sent again in %.0f s (talq.retry_period)", url, error, len(entries),
                        self.talq.retry_period)
        self.last_error = error
        return False
