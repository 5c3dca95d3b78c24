"""One `lentera-fleet command` run: address, sign, record, publish, wait for the acks, record.

The order keeps the database the city's record: every command is stored before it is
published, and each ack (or the lack of one at the timeout) is stored when the wait ends. An
ack that arrives later is still kept by the ingest (`acks`) and shown by the view
`command_status`.
"""

from agent.fleet import db
from agent.fleet.command_link import CommandLink
from agent.fleet.commands import addressees, build, load_keys, new_batch, record_outcome, \
    record_sent

CONNECT_TIMEOUT_S = 10.0


async def run(dsn: str, broker: str, prefix: str, address: dict, kind: str, fields: dict,
              key_file: str | None, keys_dir: str | None, ttl_s: float,
              timeout_s: float) -> tuple[str, list[dict], dict]:
    """(batch, the commands, outcome per id: {"result", "reason"}); CommandError, LinkError."""
    conn = await db.connect(dsn)
    try:
        targets = await addressees(conn, **address)
        gateways = {gw for gw, _target in targets}
        keys = load_keys(gateways, key_file, keys_dir)
        batch = new_batch()
        commands = build(batch, targets, kind, fields, keys, ttl_s)
        link = CommandLink(broker, prefix, f"lentera-fleet-{batch}")
        try:
            await link.connect(CONNECT_TIMEOUT_S)
            await link.subscribe_acks(gateways, CONNECT_TIMEOUT_S)
            await record_sent(conn, batch, commands)
            link.publish(commands)
            ids = {c["id"] for c in commands}
            await link.wait(ids, timeout_s)
        finally:
            link.close()
        acks = {i: a for i, a in link.acks.items() if i in ids}
        outcome = _outcome(commands, acks, link.unheard, timeout_s)
        await record_outcome(conn, {i: ms for i, ms in link.published.items() if i in ids},
                             acks, {i: o["reason"] for i, o in outcome.items()
                                    if o["result"] == "not_delivered"})
    finally:
        await conn.close()
    return batch, commands, outcome


def _outcome(commands, acks, unheard, timeout_s) -> dict:
    """Each command's result as the operator reads it."""
    outcome = {}
    for c in commands:
        ack = acks.get(c["id"])
        if ack is not None:
            outcome[c["id"]] = {"result": str(ack.get("result")), "reason": ack.get("reason")}
        elif c["id"] in unheard:
            outcome[c["id"]] = {"result": "not_delivered", "reason":
                                f"the broker's PUBACK said {unheard[c['id']]}: gateway "
                                f"{c['gateway']} has no session subscribed to its cmd topic"}
        else:
            outcome[c["id"]] = {"result": "no_ack", "reason":
                                f"no ack from gateway {c['gateway']} within {timeout_s:g} s "
                                "(offline? its status says); a late ack is kept, see the view "
                                "command_status"}
    return outcome
