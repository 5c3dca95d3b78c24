"""What the city reads: gaps in each gateway's seq, reconciled with what the gateway says it
dropped, so "lost" is told from "not yet arrived".

A gap is a run of seqs never committed between two that were. The gateway's own account:
`status.outbox.dropped` (a running total) and its `outbox_dropped` events (`dropped` each).
A gap that ends at a seq of epoch-milliseconds size follows an `outbox_recovered` (a
replaced outbox jumps its seq above the clock): unknowable, not counted as missing.
"""

import asyncpg

RECOVERED_SEQ = 10**12           # docs/mqtt.md: after a corrupt outbox seq jumps above epoch ms

GAPS_SQL = """
WITH ordered AS (
  SELECT gateway_id, seq, lead(seq) OVER (PARTITION BY gateway_id ORDER BY seq) AS next_seq
  FROM received),
gaps AS (
  SELECT gateway_id, count(*) AS runs, sum(next_seq - seq - 1) AS missing,
         min(seq + 1) AS first_missing,
         array_agg(int8range(seq + 1, next_seq) ORDER BY seq) AS ranges
  FROM ordered WHERE next_seq > seq + 1 AND next_seq < $1 GROUP BY gateway_id),
recovered AS (
  SELECT gateway_id, count(*) AS jumps FROM ordered
  WHERE next_seq >= $1 AND seq < $1 GROUP BY gateway_id),
told AS (
  SELECT gateway_id, sum((body->>'dropped')::bigint) AS dropped FROM events
  WHERE kind = 'outbox_dropped' AND body->>'dropped' ~ '^[0-9]{1,18}$' GROUP BY gateway_id),
top AS (SELECT gateway_id, max(seq) AS last_seq, count(*) AS committed FROM received
        GROUP BY gateway_id)
SELECT g.id AS gateway_id, coalesce(top.committed, 0) AS committed, top.last_seq,
  coalesce(gaps.missing, 0) AS missing, coalesce(gaps.runs, 0) AS runs, gaps.ranges,
  greatest(g.outbox_dropped, coalesce(told.dropped, 0)) AS dropped_told,
  g.outbox_backlog AS backlog, coalesce(recovered.jumps, 0) AS recovered_jumps
FROM gateways g LEFT JOIN top ON top.gateway_id = g.id LEFT JOIN gaps ON gaps.gateway_id = g.id
  LEFT JOIN told ON told.gateway_id = g.id LEFT JOIN recovered ON recovered.gateway_id = g.id
ORDER BY g.id
"""


def reconcile(row: dict) -> dict:
    """Split a gateway's missing seqs into lost (the gateway says it dropped them) and not
    yet arrived (its outbox still holds messages) or unexplained."""
    missing, told = row["missing"], row["dropped_told"]
    lost = min(missing, told)
    rest = missing - lost
    waiting = min(rest, row["backlog"] or 0)
    return dict(row, lost=lost, not_yet_arrived=waiting, unexplained=rest - waiting)


async def seq_gaps(conn: asyncpg.Connection) -> list[dict]:
    """One reconciled row per registered gateway."""
    return [reconcile(dict(r)) for r in await conn.fetch(GAPS_SQL, RECOVERED_SEQ)]
