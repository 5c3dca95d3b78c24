"""Shared fixtures: a private mosquitto, the simulated site, agent subprocesses."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.site import SiteThread
from tests.support.subscriber import Subscriber

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def broker():
    """A mosquitto of our own on a free port."""
    b = Broker().start()
    yield b
    b.stop()


@pytest.fixture
def subscriber_factory():
    """Make subscribers that are closed after the test."""
    subs = []

    def make(port, topic="#"):
        sub = Subscriber(port, topic)
        subs.append(sub)
        return sub
    yield make
    for sub in subs:
        sub.close()


@pytest.fixture
def site_factory():
    """Start simulated sites in background threads, stopped after the test."""
    sites = []

    def make(lights, **kwargs):
        s = SiteThread(lights, **kwargs).start()
        sites.append(s)
        return s
    yield make
    for s in sites:
        s.stop()


class AgentProcess:
    """`lentera run` as a subprocess."""

    def __init__(self, config: Path, log: Path, extra_args: list[str] = (),
                 env: dict | None = None):
        self.log = log
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        self.proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "-c",
                                      str(config), *extra_args], cwd=REPO, env=env,
                                     stdout=open(log, "wb"), stderr=subprocess.STDOUT)

    def output(self) -> str:
        """What the agent logged so far."""
        return self.log.read_text(errors="replace")

    def wait_logged(self, text: str, timeout: float = 20) -> str:
        """The first log line holding text, waiting for it: a loaded machine (the suite runs on
        four workers) can take seconds just to import and start the agent."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [ln for ln in self.output().splitlines() if text in ln]
            if lines:
                return lines[0]
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"the agent never logged {text!r} within {timeout} s; "
                                     f"its log ends:\n{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, lines: int = 80) -> str:
        """The end of its log (a stuck stop's thread stacks land there)."""
        return "\n".join(self.output().splitlines()[-lines:])

    def terminate(self, timeout: float = 10) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # the agent dumps every thread's stack 12 s into a stuck stop: show where it hangs
            raise AssertionError(f"the agent did not stop within {timeout} s of SIGTERM; "
                                 f"its log ends:\n{self.log_tail()}") from None

    def stopped_cleanly(self, timeout: float = 15) -> str:
        """SIGTERM, wait; '' when it exited 0, else the reason with the end of its log."""
        code = self.terminate(timeout)
        if code == 0:
            return ""
        return f"exit code {code} after SIGTERM; the log ends:\n{self.log_tail()}"

    def kill(self) -> None:
        """SIGKILL."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def agent_factory(tmp_path):
    """Start agent subprocesses; killed after the test if still running."""
    agents = []

    def make(config: Path, extra_args: list[str] = (), env: dict | None = None):
        a = AgentProcess(config, tmp_path / f"agent{len(agents)}.log", extra_args, env)
        agents.append(a)
        return a
    yield make
    for a in agents:
        a.kill()
