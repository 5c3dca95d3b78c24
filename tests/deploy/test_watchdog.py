"""systemd Type=notify: READY after the first polls, WATCHDOG pings only while the agent progresses.

A fake notify socket (AF_UNIX datagram, as systemd's) receives what the agent sends; the agent
polls a simulated site over Modbus TCP on loopback.
"""

import asyncio
import os
import queue
import socket
import threading
import time

from agent.app import Agent
from agent.config.loading import load_config
from agent.platform.sdnotify import Notifier, ProgressWatch, agent_watch
from tests.support.broker import free_port
from tests.support.gateway_files import write_gateway


class FakeSystemd:
    """Binds a notify socket and records (monotonic time, message) for every datagram."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.got: queue.Queue = queue.Queue()
        self.log: list = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            item = (time.monotonic(), data.decode())
            self.log.append(item)
            self.got.put(item)

    async def next(self, field: str, timeout: float = 10.0):
        """The next message holding field (e.g. 'READY=1')."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {field} from the agent within {timeout} s: {self.log}"
            try:
                when, msg = await asyncio.to_thread(self.got.get, True, left)
            except queue.Empty:
                continue
            if field in msg.split("\n"):
                return when, msg

    def close(self):
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


def test_ready_after_first_polls_pings_while_healthy_none_while_loop_blocked(
        tmp_path, site_factory, monkeypatch):
    site = site_factory(3)
    cfg = load_config(write_gateway(tmp_path / "gateway.yaml",
                                    f"mqtt://127.0.0.1:{free_port()}", site.port, 3,
                                    poll="300ms"))
    systemd = FakeSystemd(tmp_path / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")          # pings every 0.2 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)

    async def scenario():
        agent = Agent(cfg)
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        try:
            await systemd.next("READY=1")
            polls = [t.polls for s in agent.schedulers.values() for t in s.targets]
            assert len(polls) == 3 and all(p > 0 for p in polls), polls
            assert not any("WATCHDOG=1" in m for _, m in systemd.log[:-1]), systemd.log
            for _ in range(3):
                await systemd.next("WATCHDOG=1")
            blocked_at = time.monotonic()
            time.sleep(1.5)                      # the event loop is hung (on purpose)
            unblocked_at = time.monotonic()
            when, _ = await systemd.next("WATCHDOG=1")
            assert when >= unblocked_at - 0.05
            during = [(t, m) for t, m in systemd.log
                      if blocked_at + 0.05 < t < unblocked_at and "WATCHDOG=1" in m]
            assert not during, f"pings while the loop was blocked: {during}"
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
        await systemd.next("STOPPING=1", timeout=2)

    try:
        asyncio.run(scenario())
    finally:
        systemd.close()


def test_pings_stop_when_polls_stall_or_a_task_stays_down():
    now = [0.0]
    watch = ProgressWatch(stall_s=60, clock=lambda: now[0])
    assert watch.check({"bus.lan": 1}, []) is None
    now[0] = 30
    assert watch.check({"bus.lan": 5}, []) is None
    now[0] = 89
    assert watch.check({"bus.lan": 5}, []) is None           # 59 s without a poll: still fine
    now[0] = 91
    assert "bus.lan" in watch.check({"bus.lan": 5}, [])       # stalled: no ping
    assert watch.check({"bus.lan": 6}, ["uplink.publish"]) is None   # restarting is allowed...
    now[0] = 152
    assert "uplink.publish" in watch.check({"bus.lan": 7}, ["uplink.publish"])  # ...not forever
    assert watch.check({"bus.lan": 8}, []) is None


def test_notifier_reads_systemd_environment_and_is_silent_without_it(tmp_path):
    assert not Notifier.from_env({}).enabled and not Notifier.from_env({}).send("READY=1")
    n = Notifier.from_env({"NOTIFY_SOCKET": "/nonexistent/notify", "WATCHDOG_USEC": "30000000",
                           "WATCHDOG_PID": str(os.getpid())})
    assert n.enabled and n.watchdog_s == 30.0
    assert not n.send("READY=1") and n.failed == 1           # systemd gone: no exception
    other = Notifier.from_env({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000",
                               "WATCHDOG_PID": "1"})
    assert other.watchdog_s is None                           # the watchdog is another pid's
    name = f"lentera-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0" + name)                                  # abstract socket, as systemd uses
    try:
        assert Notifier("@" + name).send("READY=1", "STATUS=ok")
        assert server.recv(100) == b"READY=1\nSTATUS=ok"
    finally:
        server.close()


class FakeTarget:
    def __init__(self, next_due):
        self.polls, self.next_due = 0, next_due


class FakeScheduler:
    def __init__(self, targets, now):
        self.targets, self.now = targets, now

    def clock(self):
        return self.now[0]


class FakeSupervisor:
    def status(self):
        return {"bus.lan.poll": {"running": True}}


def test_ready_does_not_wait_for_devices_first_due_much_later():
    now = [100.0]
    fast, slow = FakeTarget(100.5), FakeTarget(100 + 450)      # a 15-min meter, spread
    scheduler = FakeScheduler([fast, slow], now)
    got = []

    async def scenario():
        sent = asyncio.Event()

        class Recorder(Notifier):
            def send(self, *fields):
                got.append(fields)
                sent.set()
                return True

        loop = asyncio.ensure_future(agent_watch(Recorder("x", 0.1), {"lan": scheduler},
                                                 FakeSupervisor(), 600)())
        for _ in range(3):
            await asyncio.sleep(0)
        assert got == []                       # the fast device has not been polled yet
        fast.polls = 1
        await asyncio.wait_for(sent.wait(), 5)
        loop.cancel()
    asyncio.run(scenario())
    assert got[0][0] == "READY=1" and slow.polls == 0
