"""Reconnect after a long broker outage: seconds from the broker's return to the agent's
first publish, and whether the backlog arrived complete.

    .venv/bin/python bench/reconnect.py [--lights 200] [--outage 300]

The agent runs as a subprocess (`lentera run`) on a simulated site (in-process, real
Modbus TCP) and a private mosquitto on a free port. The broker is stopped for --outage
seconds and started again on the same port; a subscriber already waiting there (it
reconnects every 0.1 s) reports the first message from the agent.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.durable import DurableSubscriber, persistent_broker   # noqa: E402
from tests.support.gateway_files import write_gateway                   # noqa: E402
from tests.support.site import SiteThread                               # noqa: E402

PREFIX = "city/lighting/test-gw"


def _seqs(sub) -> set:
    return {p["seq"] for _, p, _ in sub.messages if isinstance(p, dict) and "seq" in p}


def main(lights: int, outage: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="lentera-reconnect-"))
    site = SiteThread(lights).start()
    broker = persistent_broker().start()
    config = write_gateway(folder / "gw.yaml", broker.url, site.port, lights, poll="1s",
                           mqtt="reconnect_min: 1s, reconnect_max: 4s",    # the defaults
                           extra="outbox: {max_mb: 256}\n")
    log = open(folder / "agent.log", "wb")
    agent = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "-c", str(config)],
                             cwd=Path(__file__).resolve().parent.parent, stdout=log,
                             stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    sub = DurableSubscriber(broker.port, f"{PREFIX}/#", client_id="bench-reconnect")
    try:
        sub.wait_for(lambda m: len(_seqs(sub)) >= 2 * lights, 30, "telemetry before")
        broker.stop()
        last_before = max(_seqs(sub))
        print(f"broker down for {outage:.0f} s ({lights} lights at 1 s) ...", flush=True)
        time.sleep(outage)
        broker.start()
        back = time.monotonic()
        sub.wait_for(lambda m: max(_seqs(sub)) > last_before, 120, "first publish after")
        first = time.monotonic() - back
        expect = int(lights * outage * 0.95)
        sub.wait_for(lambda m: len(_seqs(sub)) >= 2 * lights + expect, 600, "the backlog")
        drained = time.monotonic() - back
        got = _seqs(sub)
        holes = len(set(range(min(got), max(got) + 1)) - got)
        print(f"first publish {first:.2f} s after the broker's return; backlog of the "
              f"outage (>= {expect} readings) delivered {drained:.1f} s after it; "
              f"{len(got)} seqs delivered in all, holes: {holes}")
    finally:
        agent.terminate()
        agent.wait(10)
        sub.close()
        broker.stop()
        site.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lights", type=int, default=200)
    parser.add_argument("--outage", type=float, default=300.0)
    args = parser.parse_args()
    main(args.lights, args.outage)
