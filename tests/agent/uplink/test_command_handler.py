"""The verified-command handler with hand-written fakes of its ports (outbox, arbiter)."""

import asyncio
import json

from agent.errors import StoreError
from agent.uplink.commands import CommandHandler

NOW = 1_800_000_000_000


class FakeOutbox:
    """remember_command as the outbox would answer it; or failing like a full disk."""

    def __init__(self, fail=False):
        self.fail = fail
        self.ids = set()
        self.newest_issued = 0

    async def remember_command(self, cid, expires_at, issued, now, max_ttl):
        if self.fail:
            raise StoreError("cannot record the command id in outbox.db: database or disk "
                             "is full")
        if expires_at <= self.newest_issued:
            return "stale"
        if cid in self.ids:
            return "replayed"
        self.ids.add(cid)
        self.newest_issued = max(self.newest_issued, issued)
        return "accepted"


class FakeArbiter:
    def __init__(self):
        self.calls = []

    async def apply_city_command(self, targets, switch, dim, duration):
        self.calls.append((targets, switch, dim))
        return {t: None for t in targets}


def _handler(outbox, trusted=True, now=NOW):
    acks, arbiter = [], FakeArbiter()

    async def snapshot():
        return {"ok": True}
    handler = CommandHandler("gw", 86400, {}, {"L-1"}, arbiter, outbox,
                             lambda *a: acks.append(a), snapshot, lambda: now,
                             lambda: trusted)
    return handler, acks, arbiter


def _cmd(cid, kind="switch", **extra):
    body = {"id": cid, "gateway": "gw", "kind": kind, "expires_at": NOW + 60_000, **extra}
    if kind == "switch":
        body.update(target={"device": "L-1"}, on=True)
    return json.dumps(body)


def test_a_command_whose_id_cannot_be_stored_is_answered_error_and_the_loop_goes_on():
    """Before: OperationalError escaped, the command loop crashed, the command got no ack."""
    async def go():
        handler, acks, arbiter = _handler(FakeOutbox(fail=True))
        task = asyncio.create_task(handler.run_loop())
        handler.submit(_cmd("a"))
        handler.submit(_cmd("b"))
        for _ in range(100):
            if len(acks) == 2:
                break
            await asyncio.sleep(0)
        task.cancel()
        return acks, arbiter, task
    acks, arbiter, task = asyncio.run(go())
    assert [(a[0], a[1]) for a in acks] == [("a", "error"), ("b", "error")]
    assert "disk is full" in acks[0][2] and arbiter.calls == []


def test_untrusted_clock_refuses_actuation_but_answers_snapshots():
    async def go():
        handler, acks, arbiter = _handler(FakeOutbox(), trusted=False)
        await handler.handle(_cmd("s1"))
        await handler.handle(_cmd("snap", kind="snapshot"))
        return acks, arbiter
    acks, arbiter = asyncio.run(go())
    assert acks[0][1] == "refused" and acks[0][2].startswith("clock_untrusted:")
    assert acks[1][1] == "done" and arbiter.calls == []


def test_a_clock_behind_the_horizon_is_untrusted_and_old_commands_are_stale():
    async def go():
        outbox = FakeOutbox()
        handler, acks, _ = _handler(outbox)
        await handler.handle(_cmd("new", issued_at=NOW - 1000))
        behind, behind_acks, _ = _handler(outbox, now=NOW - 3_600_000)   # set back an hour
        await behind.handle(_cmd("x"))
        old = json.dumps({"id": "old", "gateway": "gw", "kind": "switch", "on": True,
                          "target": {"device": "L-1"}, "expires_at": NOW - 2000})
        outbox_now = FakeOutbox()
        outbox_now.newest_issued = NOW - 1000
        late, late_acks, _ = _handler(outbox_now, now=NOW - 5000)
        await late.handle(old)
        return acks, behind_acks, late_acks
    acks, behind, late = asyncio.run(go())
    assert acks[0][1] == "done"
    assert behind[0][1] == "refused" and behind[0][2].startswith("clock_untrusted:"), behind
    assert late[0][1] == "refused" and late[0][2].startswith("stale:"), late


def test_issued_at_must_come_before_expiry():
    async def go():
        handler, acks, _ = _handler(FakeOutbox())
        await handler.handle(_cmd("c", issued_at=NOW + 120_000))
        return acks
    acks = asyncio.run(go())
    assert acks[0][1] == "refused" and "issued_at" in acks[0][2]


def test_a_command_issued_in_the_future_does_not_block_later_ones():
    """Before: one signed command with issued_at 20 h ahead moved the replay horizon 20 h into
    the future, and every later command was refused clock_untrusted for up to max_ttl."""
    async def go():
        outbox = FakeOutbox()
        handler, acks, arbiter = _handler(outbox)
        ahead = json.loads(_cmd("ahead"))
        ahead.update(issued_at=NOW + 20 * 3_600_000, expires_at=NOW + 21 * 3_600_000)
        await handler.handle(json.dumps(ahead))
        await handler.handle(_cmd("later", issued_at=NOW - 1000))
        return acks, outbox, arbiter
    acks, outbox, arbiter = asyncio.run(go())
    assert acks[0][1] == "refused" and "ahead of this gateway's clock" in acks[0][2], acks[0]
    assert acks[1][1] == "done", acks[1]
    assert outbox.newest_issued <= NOW and len(arbiter.calls) == 1
