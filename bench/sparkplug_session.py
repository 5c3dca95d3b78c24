"""CPU per message of the Sparkplug node's MQTT session (agent/sparkplug/node.py), no agent.

A real mosquitto and one subscriber; the session publishes `--per-pass` DDATA-sized messages
per pass of the loop every `--every` ms, then its UNSUBACK barrier, as the node does for each
outbox commit (500 lights at 1 s: about 10 rows per 20 ms commit). Reports process CPU (all
threads: the loop and paho's) per message, for this checkout's session and, with --old, for
another checkout's, alternating in one run (the ratio is the figure that holds on a shared box).

Run: .venv/bin/python bench/sparkplug_session.py [--old /tmp/lentera-old] [--rounds 3]
     [--seconds 5] [--per-pass 10] [--every 20]
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent


def child(args) -> None:
    """One measurement in this process, with the checkout on sys.path first."""
    sys.path.insert(0, args.root)
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from agent.config.models import Mqtt
    from agent.config.sparkplug import SparkplugConfig
    from agent.sparkplug import node as spnode
    from agent.sparkplug.topics import Topics

    received = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    got_all = threading.Event()
    sub.on_message = lambda c, u, m: received.append(1)
    sub.connect("127.0.0.1", args.port)
    sub.subscribe("spBv1.0/#", 0)
    sub.loop_start()

    async def main():
        loop = asyncio.get_running_loop()
        cfg = SparkplugConfig(enabled=True, group_id="b", keepalive=30)
        node = SimpleNamespace(loop=loop, cfg=cfg, mqtt=Mqtt(url=f"mqtt://127.0.0.1:{args.port}"),
                               url=f"mqtt://127.0.0.1:{args.port}", host="127.0.0.1",
                               port=args.port, client_id=f"bench-{os.getpid()}",
                               topics=Topics("b", "gw"), wall_ms=lambda: 1000,
                               on_message=lambda *a: None)
        session = spnode.Session(node, 0)
        session.start()
        await asyncio.wait_for(session.connected.wait(), 10)
        topics = [f"spBv1.0/b/DDATA/gw/L0-{i:03d}" for i in range(500)]
        body = bytes(range(90))
        sent, n = 0, 0
        t_end = time.monotonic() + args.warmup + args.seconds
        cpu0 = None
        while time.monotonic() < t_end:
            if cpu0 is None and time.monotonic() > t_end - args.seconds:
                cpu0, sent0 = time.process_time(), sent
            for _ in range(args.per_pass):
                session.publish(topics[n % 500], body)
                n += 1
            sent += args.per_pass
            assert await session.barrier()
            await asyncio.sleep(args.every / 1000)
        cpu = time.process_time() - cpu0
        await session.close(ndeath=False)
        return cpu, sent - sent0, sent

    cpu, measured, sent = asyncio.run(main())
    deadline = time.monotonic() + 10
    while len(received) < sent and time.monotonic() < deadline:
        got_all.wait(0.05)
    print(f"{cpu / measured * 1e6:.2f} {len(received)} {sent}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", default=None, help="another checkout to compare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--per-pass", type=int, default=10)
    parser.add_argument("--every", type=float, default=20.0, help="ms between passes")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", default=str(REPO), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    sys.path.insert(0, str(REPO))
    from agent.demo.broker import Broker
    roots = {"new": str(REPO)} if args.old is None else {"old": args.old, "new": str(REPO)}
    runs = {label: [] for label in roots}
    broker = Broker().start()
    try:
        for _ in range(args.rounds):
            for label, root in roots.items():
                out = subprocess.run(
                    [sys.executable, __file__, "--child", "--root", root, "--port",
                     str(broker.port), "--seconds", str(args.seconds), "--warmup",
                     str(args.warmup), "--per-pass", str(args.per_pass), "--every",
                     str(args.every)], cwd=root, capture_output=True, text=True, check=True)
                us, received, sent = out.stdout.split()
                runs[label].append(float(us))
                print(f"  {label}: {float(us):.2f} us CPU per message, {received}/{sent} "
                      "received", flush=True)
    finally:
        broker.stop()
    medians = {label: statistics.median(r) for label, r in runs.items()}
    for label, m in medians.items():
        print(f"{label} median: {m:.2f} us CPU per message")
    if "old" in medians:
        print(f"new/old: {medians['new'] / medians['old']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
