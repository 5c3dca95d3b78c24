"""The audit's write and fsync stay off the event loop, and failed logins cannot flood the card
(review finding 9), against an in-process console on loopback."""

import asyncio
import json
import os
import time

from agent.local.console import Console
from agent.local.loginaudit import FailedLogins
from agent.store.audit import AuditLog, verify
from tests.agent.local.test_console_http import against
from tests.support.console_app import PASSWORD, console_site, post_login

DELAY_S = 0.4                   # one fsync on a dying SD card, as measured in the review


class SlowFsync:
    """A slow filesystem: each fsync sleeps, then really syncs."""

    def __init__(self):
        self.calls = 0

    def __call__(self, fd):
        self.calls += 1
        time.sleep(DELAY_S)
        os.fsync(fd)


async def _lag_during(work):
    """(work's result, the loop's longest wake-up delay while it ran)."""
    worst, running = 0.0, True

    async def tick():
        nonlocal worst
        while running:
            before = time.monotonic()
            await asyncio.sleep(0.005)
            worst = max(worst, time.monotonic() - before - 0.005)
    ticker = asyncio.create_task(tick())
    try:
        return await work(), worst
    finally:
        running = False
        await ticker


def test_a_slow_fsync_does_not_stall_the_loop(tmp_path):
    """Before: each login's audit line was written and fsynced on the event loop, so a 400 ms
    fsync stalled every light, login and uplink for 400 ms (seen failing on the old code)."""
    site = console_site(tmp_path, lockout_after=100)
    console = Console(site)
    console.accounts.add("budi", PASSWORD)
    slow = SlowFsync()
    console.audit = AuditLog(site.config.console.audit, fsync=slow)   # the module's seam

    async def logins(http, url):
        async def three():
            return [await post_login(http, url, "budi", PASSWORD) for _ in range(3)]
        return await _lag_during(three)
    answers, worst = asyncio.run(against(console, logins))
    assert [a[0] for a in answers] == [302, 302, 302]
    assert slow.calls >= 3 and verify(site.config.console.audit) == (3, [])
    # structural, not a speed figure: on the loop the lag would be >= DELAY_S per line
    assert worst < DELAY_S / 2, f"the loop stalled {worst:.3f} s behind a {DELAY_S} s fsync"


def test_concurrent_writes_are_chained_in_call_order(tmp_path):
    log = AuditLog(tmp_path / "a.log", fsync=lambda fd: time.sleep(0.002))
    log.open()

    async def many():
        return await asyncio.gather(*(log.write(1.0 + i, who="budi", n=i) for i in range(20)))
    asyncio.run(many())
    assert verify(tmp_path / "a.log") == (20, [])
    assert [json.loads(x)["n"] for x in (tmp_path / "a.log").read_text().splitlines()] == \
        list(range(20))


def test_failed_logins_from_one_address_are_one_line_a_minute(tmp_path):
    """Before: every failed login from anyone was one audit line and one fsync: a flood of
    guesses wrote the card full (seen failing on the old code: 5 lines)."""
    site = console_site(tmp_path, lockout_after=100)
    console = Console(site)
    console.accounts.add("budi", PASSWORD)

    async def guesses(http, url):
        return [await post_login(http, url, "budi", f"wrong {i}") for i in range(5)]
    assert [a[0] for a in asyncio.run(against(console, guesses))] == [401] * 5
    lines = [json.loads(x) for x in (tmp_path / "audit.log").read_text().splitlines()]
    assert [(e["action"], e["result"], e["addr"]) for e in lines] == [
        ("login", "refused", "127.0.0.1")]


def test_the_next_window_s_line_counts_the_failures_not_written():
    now = [0.0]
    tally = FailedLogins(lambda: now[0], window_s=60, max_addrs=2)
    assert tally.note("10.0.0.1") == {"repeats": None, "tally": None}
    assert [tally.note("10.0.0.1") for _ in range(4)] == [None] * 4
    now[0] = 61.0
    assert tally.note("10.0.0.1") == {"repeats": 4, "tally": None}
    tally.note("10.0.0.2")
    assert tally.note("10.0.0.3") == {"repeats": None, "tally": "*"}    # the table stays bounded
    assert tally.note("10.0.0.4") is None
