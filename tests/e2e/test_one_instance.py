"""One agent per state directory: a second `lentera run` on the same config is refused at once."""

import re
import time
from collections import defaultdict

from tests.support.gateway_files import write_gateway

PREFIX = "city/lighting/test-gw"


def test_second_instance_is_refused_naming_the_first_and_seq_stays_unique(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(3)
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 3)
    sub = subscriber_factory(broker.port, f"{PREFIX}/#")
    first = agent_factory(config)
    sub.wait_for(lambda m: len([1 for t, _, _ in m if "/telemetry/" in t]) >= 6, 20,
                 "telemetry from the first agent")

    started = time.monotonic()
    second = agent_factory(config)
    code = second.proc.wait(timeout=10)
    took = time.monotonic() - started
    out = second.output()
    assert code != 0, out
    assert took < 5, f"second instance took {took:.1f} s to give up"
    assert f"pid {first.proc.pid}" in out and str(tmp_path / "lentera.lock") in out, out
    assert first.proc.poll() is None, "the first agent must keep running"

    seen = len(sub.messages)    # the first agent publishes on; its seqs stay one per message
    sub.wait_for(lambda m: len(m) >= seen + 6, 15, "telemetry after the refused second start")
    assert first.terminate(timeout=10) == 0
    by_seq = defaultdict(set)
    for topic, payload, _ in sub.messages:
        if isinstance(payload, dict) and "seq" in payload:
            by_seq[payload["seq"]].add((topic, payload["ts"]))
    doubled = {s: v for s, v in by_seq.items() if len(v) > 1}
    assert by_seq and not doubled, doubled
    assert not re.search(r"connected to mqtt://", out), "the second agent must never connect"
