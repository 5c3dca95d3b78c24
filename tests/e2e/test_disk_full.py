"""A full disk under the outbox: polling goes on, routine telemetry is dropped first (counted,
with an event), command acks are never lost, and delivery resumes without a restart.

The state directory is a small tmpfs the test mounts (root only; otherwise skipped with the
reason). Before this was built, 4 of 10 commands got no ack on a full disk: storing the
command id raised OperationalError and the command loop died.
"""

import os
import shutil
import subprocess
import time

import pytest

from agent.uplink.signing import seal
from tests.support.tmpfs import small_tmpfs
from tests.support.durable import DurableSubscriber, persistent_broker
from tests.support.gateway_files import write_gateway, write_key

PREFIX = "city/lighting/test-gw"


@pytest.fixture
def small_fs(tmp_path):
    """A 4 MB tmpfs at tmp_path/state."""
    yield from small_tmpfs(tmp_path, "4m")


def _wait(predicate, timeout, what):
    """Bounded wait on the agent's log or the simulator (files and threads, not MQTT)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def _fill(path, leave: int):
    """Write a filler file until only `leave` bytes are free (to the last byte if 0)."""
    free = shutil.disk_usage(path.parent).free
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"\0" * max(0, free - leave))
        while not leave:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass     # ENOSPC: full
    finally:
        os.close(fd)


def test_full_disk_keeps_polling_drops_routine_first_keeps_acks_and_recovers(
        small_fs, tmp_path, site_factory, agent_factory):
    site = site_factory(30)
    key = write_key(tmp_path / "cmd.key")
    broker = persistent_broker().start()
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 30, poll="0.2s",
                           clock="assume", status_period="1s", extra=(
                               "commands: {key_file: cmd.key}\n"
                               f"outbox: {{path: {small_fs}/outbox.db}}\n"))
    sub = DurableSubscriber(broker.port, f"{PREFIX}/#")
    try:
        agent = agent_factory(config)
        sub.wait_for(lambda m: [1 for t, _, _ in m if "/telemetry/" in t], 15, "telemetry")
        broker.stop()
        _fill(small_fs / "filler", leave=200_000)
        _wait(lambda: "cannot commit" in agent.output(), 60, "the outbox to hit the full disk")
        _fill(small_fs / "filler2", leave=0)         # and now full to the last byte, reserve
        _wait(lambda: agent.output().count("to make room") >= 2, 60, "rows dropped for room")
        polls = site.call(lambda: sum(site.site.requests.values()))
        _wait(lambda: site.call(lambda: sum(site.site.requests.values())) > polls + 300, 20,
              "polling to go on while the disk is full")
        assert agent.proc.poll() is None

        broker.start()
        back = time.time() * 1000
        # the card is still full (room is made by dropping old rows): status must say so
        # (review finding, issue 22 #15: error was cleared by the first commit that fit)
        sub.wait_for(lambda m: [1 for t, p, _ in m if t.endswith("/status") and
                                isinstance(p.get("outbox"), dict) and p["ts"] > back
                                and "full" in (p["outbox"]["error"] or "")], 30,
                     "status: outbox error 'disk is full' while the card is full")
        ids = [f"full-{i}" for i in range(10)]
        for cid in ids:
            sub.client.publish(f"{PREFIX}/cmd", seal(key, {
                "id": cid, "gateway": "test-gw", "kind": "dim", "target": {"device": "L-003"},
                "level": 50, "expires_at": int(time.time() * 1000) + 120_000}), qos=1)
        acks = sub.wait_for(lambda m: (lambda a: a if {p["id"] for p in a} >= set(ids) else None)(
            [p for t, p, _ in m if t == f"{PREFIX}/ack"]), 60, "an ack for every command")
        assert {p["result"] for p in acks} <= {"done", "error"}, acks

        (small_fs / "filler").unlink()               # space returns
        (small_fs / "filler2").unlink()
        sub.wait_for(lambda m: [1 for t, p, _ in m if "/telemetry/" in t and p["ts"] > back
                                and p["seq"] > 0], 60, "fresh telemetry after the full disk")
        dropped = sub.wait_for(lambda m: [p for t, p, _ in m if t.endswith("/events/gateway")
                                          and p.get("event") == "outbox_dropped"], 30,
                               "an outbox_dropped event")
        assert dropped[0]["dropped"] > 0
        sub.wait_for(lambda m: [1 for t, p, _ in m if t.endswith("/status") and
                                isinstance(p.get("outbox"), dict) and p["ts"] > back
                                and p["outbox"]["error"] is None], 60,
                     "status: outbox writable again")
        assert agent.proc.poll() is None, "no restart"
        assert "commands.run crashed" not in agent.output()
        assert agent.terminate(timeout=10) == 0
    finally:
        sub.close()
        broker.stop()
