"""Reconnect after a long broker outage: seconds from the broker's return to the agent's
first publish, and whether the backlog arrived complete.

    .venv/bin/python bench/reconnect.py [--lights 200] [--outage 300]

The agent runs as a subprocess (`lentera run`) on a simulated site (in-process, real
Modbus TCP) and a private mosquitto on a free port. The broker is stopped for --outage
seconds and started again on the same port; a subscriber already waiting there (it
reconnects every 0.1 s) reports the first message from the agent.
"""

import argparse
import json
import os
import subprocess
import sys
import shutil
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.durable import DurableSubscriber, persistent_broker   # noqa: E402
from tests.support.gateway_files import write_gateway                   # noqa: E402
from tests.support.site import SiteThread                               # noqa: E402

PREFIX = "city/lighting/test-gw"


class SeqSubscriber(DurableSubscriber):
    """Keeps only the set of seqs seen (cheap to test, unlike rescanning every message)."""

    def __init__(self, *args, **kwargs):
        self.seqs: set = set()
        self.top = 0
        super().__init__(*args, **kwargs)

    def _on_message(self, client, userdata, msg):
        try:
            seq = json.loads(msg.payload).get("seq")
        except ValueError:
            return
        if seq is None:
            return
        with self._cond:
            self.seqs.add(seq)
            self.top = max(self.top, seq)
            self._cond.notify_all()


def _seqs(sub) -> set:
    return sub.seqs


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
    sub = SeqSubscriber(broker.port, f"{PREFIX}/#", client_id="bench-reconnect")
    try:
        sub.wait_for(lambda m: len(_seqs(sub)) >= 2 * lights, 30, "telemetry before")
        broker.stop()
        last_before = sub.top
        print(f"broker down for {outage:.0f} s ({lights} lights at 1 s) ...", flush=True)
        time.sleep(outage)
        broker.start()
        back = time.monotonic()
        sub.wait_for(lambda m: sub.top > last_before, 120, "first publish after")
        first = time.monotonic() - back
        expect = int(lights * outage * 0.95)

        low = min(sub.seqs)

        def complete(m):
            return len(sub.seqs) >= 2 * lights + expect and len(sub.seqs) == sub.top - low + 1
        try:
            sub.wait_for(complete, 600, "the whole backlog, without a hole")
        except AssertionError as exc:
            print(f"NOT COMPLETE: {exc}")
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
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lights", type=int, default=200)
    parser.add_argument("--outage", type=float, default=300.0)
    args = parser.parse_args()
    main(args.lights, args.outage)
