"""One batch of decoded messages into PostgreSQL, in one transaction, duplicates dropped.

`received (gateway_id, seq)` is the ledger: a row inserted there is new, a conflict is a
redelivery and the message is skipped. Telemetry goes in by COPY, the rest by multi-row
INSERT ... SELECT unnest(...). If the database refuses the batch for a data reason (a row
the decoder let through but PostgreSQL will not hold), every message is retried alone so
one bad row never rolls back the rest; a connection failure propagates and the caller
retries the whole batch (nothing was committed, nothing acked).
"""

from dataclasses import dataclass, field
from datetime import datetime, timezone

import asyncpg

from agent.fleet.db import is_transient
from agent.fleet.decode import FAULT_KINDS, Ack, Event, Status, Telemetry
from agent.fleet.partitions import day_of, ensure_days

KIND_CODE = {Telemetry: "t", Event: "e", Ack: "a"}
TELEMETRY_COLUMNS = ("gateway_id", "device_id", "seq", "ts", "quality", "values", "power",
                     "energy", "lamp_state")


@dataclass
class BatchResult:
    """What one commit did."""
    written: int = 0
    duplicates: int = 0
    rejected: list = field(default_factory=list)    # (record, reason)

    def add(self, other: "BatchResult") -> None:
        """Sum another result into this one."""
        self.written += other.written
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


class BatchWriter:
    """Writes batches on one connection; remembers which day partitions exist."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn
        self.days: set = set()

    async def write(self, records: list, rejects: dict | None = None) -> BatchResult:
        """Commit `records` (and the reject counters) once; see the module docstring."""
        await ensure_days(self.conn, {day_of(r.ts) for r in records if isinstance(r, Telemetry)},
                          self.days)
        try:
            async with self.conn.transaction():
                result = await self._write(records)
                await self._count_rejects(rejects or {})
            return result
        except asyncpg.PostgresError as exc:
            if is_transient(exc):
                raise
        result = BatchResult()
        for record in records:
            try:
                async with self.conn.transaction():
                    result.add(await self._write([record]))
            except asyncpg.PostgresError as exc:
                if is_transient(exc):
                    raise
                result.rejected.append((record, f"db_{exc.sqlstate}"))
        async with self.conn.transaction():
            await self._count_rejects(rejects or {})
        return result

    async def _write(self, records: list) -> BatchResult:
        result = BatchResult()
        numbered, seen = [], set()
        for r in records:
            if isinstance(r, Status):
                continue
            if (r.gateway, r.seq) in seen:          # the same message twice in one batch
                result.duplicates += 1
                continue
            seen.add((r.gateway, r.seq))
            numbered.append(r)
        new = await self.conn.fetch(
            "INSERT INTO received (gateway_id, seq, kind) SELECT * FROM "
            "unnest($1::text[], $2::bigint[], $3::text[]) ON CONFLICT DO NOTHING "
            "RETURNING gateway_id, seq",
            [r.gateway for r in numbered], [r.seq for r in numbered],
            [KIND_CODE[type(r)] for r in numbered])
        fresh = {(row[0], row[1]) for row in new}
        result.duplicates += len(numbered) - len(fresh)
        kept = [r for r in numbered if (r.gateway, r.seq) in fresh]
        await self._telemetry([r for r in kept if isinstance(r, Telemetry)])
        await self._events([r for r in kept if isinstance(r, Event)])
        await self._acks([r for r in kept if isinstance(r, Ack)])
        statuses = [r for r in records if isinstance(r, Status)]
        await self._statuses(statuses)
        result.written = len(kept) + len(statuses)
        return result

    async def _telemetry(self, rows: list[Telemetry]) -> None:
        if rows:
            await self.conn.copy_records_to_table(
                "telemetry", columns=TELEMETRY_COLUMNS,
                records=[(r.gateway, r.device, r.seq, _time(r.ts), r.quality, r.values,
                          r.power, r.energy, r.lamp_state) for r in rows])

    async def _events(self, rows: list[Event]) -> None:
        if not rows:
            return
        await self.conn.execute(
            "INSERT INTO events (gateway_id, device_id, seq, ts, kind, state, body) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], "
            "$5::text[], $6::text[], $7::jsonb[])",
            [r.gateway for r in rows], [r.device for r in rows], [r.seq for r in rows],
            [_time(r.ts) for r in rows], [r.kind for r in rows], [r.state for r in rows],
            [r.body for r in rows])
        touched = {(r.gateway, r.device, r.kind) for r in rows if r.kind in FAULT_KINDS
                   and r.state in ("raised", "cleared")}
        for key in sorted(touched):
            await self._fault(*key)

    async def _fault(self, gateway: str, device: str, kind: str) -> None:
        """A fault follows its newest event by the gateway's seq, not by arrival: a message
        the broker did not deliver is sent again later, so a raised can land after its
        cleared (it must not reopen the fault) and a cleared after the next raised (it must
        not close that one). raised opens the fault (once); cleared closes it and resolves
        its complaints."""
        newest = await self.conn.fetchrow(
            "SELECT seq, ts, state, body FROM events WHERE gateway_id = $1 AND device_id = $2 "
            "AND kind = $3 AND state IN ('raised', 'cleared') ORDER BY seq DESC LIMIT 1",
            gateway, device, kind)
        if newest is None:
            return
        if newest["state"] == "raised":
            await self.conn.execute(
                "INSERT INTO faults (gateway_id, device_id, kind, raised_ts, raised_seq, "
                "evidence) VALUES ($1, $2, $3, $4, $5, ($6::jsonb)->'evidence') "
                "ON CONFLICT (gateway_id, device_id, kind) WHERE cleared_ts IS NULL "
                "DO NOTHING", gateway, device, kind, newest["ts"], newest["seq"],
                newest["body"])
        else:
            await self.conn.execute(
                "WITH closed AS (UPDATE faults SET cleared_ts = $4, cleared_seq = $5 "
                "WHERE gateway_id = $1 AND device_id = $2 AND kind = $3 AND cleared_ts IS NULL "
                "AND raised_seq < $5 RETURNING id) UPDATE complaints SET resolved_at = $4, "
                "resolution = 'fault ' || $3 || ' cleared by telemetry (seq ' || $5::text || ')' "
                "WHERE fault_id IN (SELECT id FROM closed) AND resolved_at IS NULL",
                gateway, device, kind, newest["ts"], newest["seq"])

    async def _acks(self, rows: list[Ack]) -> None:
        if rows:
            await self.conn.execute(
                "INSERT INTO acks (gateway_id, seq, ts, command_id, result, reason, body) "
                "SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], "
                "$5::text[], $6::text[], $7::jsonb[])",
                [r.gateway for r in rows], [r.seq for r in rows], [_time(r.ts) for r in rows],
                [r.command_id for r in rows], [r.result for r in rows],
                [r.reason for r in rows], [r.body for r in rows])

    async def _statuses(self, rows: list[Status]) -> None:
        for r in rows:
            # retained statuses arrive again after every reconnect: never go back in time
            await self.conn.execute(
                "UPDATE gateways SET state = $2, status_ts = coalesce($3::timestamptz, now()), "
                "status = $4::jsonb, outbox_dropped = greatest(outbox_dropped, coalesce($5, 0)),"
                " outbox_backlog = $6, seen_at = now() WHERE id = $1 AND "
                "(status_ts IS NULL OR $3::timestamptz IS NULL OR status_ts <= $3::timestamptz)",
                r.gateway, r.state, _time(r.ts) if r.ts else None, r.body, r.outbox_dropped,
                r.outbox_backlog)

    async def _count_rejects(self, rejects: dict) -> None:
        if rejects:
            keys = sorted(rejects)
            await self.conn.execute(
                "INSERT INTO rejects (gateway_id, reason, count, last_at, sample) "
                "SELECT g, r, c, now(), s FROM unnest($1::text[], $2::text[], $3::bigint[], "
                "$4::text[]) AS u(g, r, c, s) ON CONFLICT (gateway_id, reason) DO UPDATE SET "
                "count = rejects.count + EXCLUDED.count, last_at = now(), "
                "sample = EXCLUDED.sample",
                [k[0] for k in keys], [k[1] for k in keys], [rejects[k][0] for k in keys],
                [rejects[k][1] for k in keys])
