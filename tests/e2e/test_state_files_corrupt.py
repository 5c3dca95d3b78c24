"""A state file that cannot be loaded never keeps the agent from starting.

The learnt anomaly state (anomaly.npz) and the schedule the city pushed
(pushed-lighting.json) and the crew's holds (holds.json), each empty, truncated or random bytes: the agent starts,
publishes within 15 s, moves the file aside as NAME.corrupt-<time> and says so in a
`state_file_corrupt` event naming it. (Before: `EOFError`/`BadZipFile` from np.load
stopped the agent at start-up, and systemd restart-looped it.)
"""

import io
import json
import os

import numpy as np
import pytest

from tests.support.gateway_files import write_gateway

PREFIX = "city/lighting/test-gw"
LIGHTING = """\
lighting:
  groups:
    road: {devices: [L-001, L-002]}
  failsafe: {level: 100}
"""


def _npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, channels=np.array(["L-001.voltage"] * 50), light_ids=np.array(["L-001"]),
             **{f"lights/x{i}": np.arange(200.0) for i in range(5)})
    return buf.getvalue()


def _schedule() -> bytes:
    return json.dumps({"groups": {"road": {"devices": ["L-001", "L-002"]}},
                       "failsafe": {"level": 40}}).encode()


BROKEN = {
    "empty": lambda good: b"",
    "truncated": lambda good: good[: len(good) // 2],
    "random": lambda good: os.urandom(len(good)),
}


@pytest.mark.parametrize("how", sorted(BROKEN))
def test_agent_starts_and_names_the_corrupt_state_file(
        how, tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(2)
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 2, extra=LIGHTING)
    files = {"anomaly.npz": _npz(), "pushed-lighting.json": _schedule(),
             "holds.json": json.dumps({"saved_at": 1_800_000_000, "entries": []}).encode()}
    for name, good in files.items():
        (tmp_path / name).write_bytes(BROKEN[how](good))
    sub = subscriber_factory(broker.port, f"{PREFIX}/#")
    agent = agent_factory(config)
    sub.wait_for(lambda m: [1 for t, _, _ in m if "/telemetry/" in t], 15,
                 f"telemetry despite {how} state files")
    events = sub.wait_for(lambda m: [p for t, p, _ in m if t == f"{PREFIX}/events/gateway"
                                     and p.get("event") == "state_file_corrupt"]
                          if len([1 for t, p, _ in m if isinstance(p, dict)
                                  and p.get("event") == "state_file_corrupt"]) >= len(files)
                          else None, 15, f"{len(files)} state_file_corrupt events")
    named = {os.path.basename(e["file"]) for e in events}
    assert named == set(files), events
    for name in files:
        # anomaly.npz is saved again on stop, holds.json at the first step
        assert not (tmp_path / name).exists() or name in ("anomaly.npz", "holds.json")
        assert list(tmp_path.glob(f"{name}.corrupt-*")), f"{name} was not moved aside"
    assert agent.terminate(timeout=10) == 0
