"""One `lentera-fleet command` run: address, sign, record, publish, wait for the acks, record.

The order keeps the database the city's record: every command is stored before it is
published, and each ack (or the lack of one at the timeout) is stored when the wait ends. An
ack that arrives later is still kept by the ingest (`acks`) and shown by the view
`command_status`.

Past a gateway's command queue (32) the commands go out in paced waves (commands.waves): a
wave is published, its acks awaited (up to `timeout_s` per wave), then the next. A gateway
that left a command of a wave unanswered gets none of its later waves (they would only fill
its queue behind a command it has not run): those are recorded `held_back`, never sent.
"""

from agent.fleet import db
from agent.fleet.command_link import CommandLink
from agent.fleet.commands import addressees, build, load_keys, new_batch, record_outcome, \
    record_sent, waves

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
            held = await _send_in_waves(link, commands, timeout_s)
        finally:
            link.close()
        ids = {c["id"] for c in commands}
        acks = {i: a for i, a in link.acks.items() if i in ids}
        outcome = _outcome(commands, acks, link.unheard, timeout_s, held)
        await record_outcome(conn, {i: ms for i, ms in link.published.items() if i in ids},
                             acks, {i: o["reason"] for i, o in outcome.items()
                                    if o["result"] == "not_delivered"},
                             {i: o["reason"] for i, o in outcome.items()
                              if o["result"] == "held_back"})
    finally:
        await conn.close()
    return batch, commands, outcome


async def _send_in_waves(link: CommandLink, commands: list[dict], timeout_s: float) -> dict:
    """Publish wave after wave, each once the last is answered; {id: why} of those held."""
    held: dict[str, str] = {}
    silent: dict[str, int] = {}             # gateway -> the wave it left unanswered
    for number, wave in enumerate(waves(commands), 1):
        for c in wave:
            if c["gateway"] in silent:
                held[c["id"]] = (f"held back: gateway {c['gateway']} did not answer every "
                                 f"command of wave {silent[c['gateway']]} within "
                                 f"{timeout_s:g} s, so its queue may still be full")
        wave = [c for c in wave if c["id"] not in held]
        if not wave:
            continue
        link.publish(wave)
        ids = {c["id"] for c in wave}
        await link.wait(ids, timeout_s)
        for c in wave:
            if c["id"] not in link.acks and c["id"] not in link.unheard:
                silent.setdefault(c["gateway"], number)
    return held


def _outcome(commands, acks, unheard, timeout_s, held) -> dict:
    """Each command's result as the operator reads it."""
    outcome = {}
    for c in commands:
        ack = acks.get(c["id"])
        if c["id"] in held:
            outcome[c["id"]] = {"result": "held_back", "reason": held[c["id"]]}
        elif ack is not None:
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
