"""SIGTERM on a dying SD card: the stop stays inside systemd's TimeoutStopSec.

Every fsync and fdatasync of the agent is made to take 2.5 s (strace's syscall fault
injection, on all its threads). Before, the stop waited on each slow step in turn -
the anomaly-state save without bound, then the outbox's thread at exit - and ran into the
12 s hard stop (exit 1; 12.7 s before that existed, close to systemd's SIGKILL at 15 s). Now each step has its share of a ~10 s budget and
a step that overruns is named in the log. What was committed is still there after a
restart on healthy storage: delivered seqs have no hole.
"""

import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.support.gateway_files import write_gateway

PREFIX = "city/lighting/test-gw"
FSYNC_DELAY_US = 2_500_000


def _can_trace() -> str:
    if shutil.which("strace") is None:
        return "strace is not installed (deploy/dev/setup.sh installs it)"
    probe = subprocess.run(["strace", "-f", "-e", "inject=fsync:delay_enter=1", "-o",
                            os.devnull, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"strace cannot trace here ({probe.stderr.strip()[:200]})"
    return ""


def test_stop_on_storage_with_2_5_s_fsyncs_ends_within_timeoutstopsec(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    why = _can_trace()
    if why:
        pytest.skip(why)
    site = site_factory(30)
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 30, poll="1s")
    sub = subscriber_factory(broker.port, f"{PREFIX}/#")

    def seqs():
        return {p["seq"] for _, p, _ in sub.messages if isinstance(p, dict) and "seq" in p}
    agent = agent_factory(config)
    sub.wait_for(lambda m: len(seqs()) >= 60, 20, "two rounds of polls")
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-o", os.devnull, "-e", "trace=fsync,fdatasync",
                               "-e", f"inject=fsync,fdatasync:delay_enter={FSYNC_DELAY_US}",
                               "-p", str(agent.proc.pid)], stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)                               # attached to every thread by now
        assert tracer.poll() is None, tracer.stderr.read()
        stop_sent = time.monotonic()
        agent.proc.send_signal(signal.SIGTERM)
        code = agent.proc.wait(20)
        took = time.monotonic() - stop_sent
    finally:
        tracer.terminate()
        tracer.wait(5)
    log = agent.output()
    print(f"\nstop with {FSYNC_DELAY_US / 1e6:.1f} s fsyncs: {took:.1f} s, exit code {code}")
    # 0: a clean stop inside the budget, not the 12 s hard stop (exit 1, stacks dumped)
    assert code == 0 and took < 15, f"stop: {took:.1f} s, exit {code}:\n{agent.log_tail()}"
    assert "took over" in log, agent.log_tail()            # the slow step is named
    # what was committed survives: a restart on healthy storage resends, no seq hole
    before = max(seqs())
    agent_factory(config)
    sub.wait_for(lambda m: max(seqs()) > before + 30, 20, "polls after the restart")
    got = seqs()
    missing = set(range(min(got), max(got) + 1)) - got
    assert not missing, f"seq holes after the slow stop: {sorted(missing)[:20]}"
