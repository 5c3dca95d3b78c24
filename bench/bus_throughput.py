"""Bus throughput: the real agent stack against the simulator, versus what the line allows.

Subcommands:
  rtu   60 street-light controllers on a simulated 9600-baud Modbus RTU line
        (`lentera simulate --rtu`, a timed pty wire in its own process), polled
        as fast as possible by BusScheduler + ModbusDevice + ModbusRtuBus. Prints
        register reads per second achieved, the theoretical line rate for the
        same request mix, and their ratio (target >= 0.95).

The theoretical rate models, per request: request bytes + response bytes at
(1 start + 8 data + parity + stop) bits each, plus two RTU inter-frame gaps
(t3.5 before the request and before the reply) and the device turnaround the
wire is told to add (0 by default). Nothing else: any Python, pty or scheduler
overhead in the agent or the simulator shows up as a ratio below 1.

  garbage  RS-485 noise: 1 kB/s of random bytes on the line for --seconds (30) beside a
        late, a noisy and a healthy unit (the test responder of
        tests/drivers/modbus/rtu/responder.py on a pty pair), then quiet. Prints polls,
        good share per unit, values misattributed (must be 0), the longest transaction
        (must stay within timeout + late window), the line counters, and how many polls
        each unit needed to be good again after the noise stopped (must be <= 2).

  tcp   500 street-light controllers over 5 Modbus TCP simulator endpoints, polled every
        second by the real agent (`lentera run`, outbox and anomaly detection on) into a
        private mosquitto: delivered share, latency, agent CPU, points per CPU-second,
        peak RSS (bench/tcp_fleet.py).

Run: .venv/bin/python bench/bus_throughput.py rtu [--lights 60] [--baud 9600] [--seconds 20]
     .venv/bin/python bench/bus_throughput.py garbage [--seconds 30]
     .venv/bin/python bench/bus_throughput.py tcp [--seconds 30]
"""

import argparse
import asyncio
import os
import subprocess
import sys
import shutil
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from agent.core.bus import BusScheduler, PollTarget  # noqa: E402
from drivers.modbus.device import ModbusDevice  # noqa: E402
from drivers.modbus.rtu import ModbusRtuBus  # noqa: E402
from drivers.modbus.line import rtu_gap_s  # noqa: E402
from drivers.modbus.profile import load_profile  # noqa: E402
from tcp_fleet import add_tcp_parser  # noqa: E402  (bench/ is the script's own folder)

REPO = Path(__file__).resolve().parent.parent
PROFILE = "streetlight-generic"
READ_REQUEST_BYTES = 8           # unit, fc, start (2), count (2), CRC (2)
READ_REPLY_OVERHEAD = 5          # unit, fc, byte count, CRC (2)


# --- RTU ----------------------------------------------------------------------------

def rtu_theory(blocks, baud: int, parity: str, turnaround_s: float) -> dict:
    """Line time of one poll (the given read blocks) and the register rate it allows."""
    bits = 1 + 8 + (0 if parity == "N" else 1) + 1
    char_s = bits / baud
    gap_s = rtu_gap_s(baud, parity)
    poll_s = 0.0
    for block in blocks:
        frame_bytes = READ_REQUEST_BYTES + READ_REPLY_OVERHEAD + 2 * block.count
        poll_s += frame_bytes * char_s + 2 * gap_s + turnaround_s
    registers = sum(b.count for b in blocks)
    return {"poll_s": poll_s, "registers_per_poll": registers,
            "registers_per_s": registers / poll_s, "char_s": char_s, "gap_s": gap_s}


def start_simulator(lights: int, baud: int, parity: str, link: Path) -> tuple:
    """`lentera simulate --rtu` as a child process; returns (process, pty name)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "simulate", "--lights", str(lights),
         "--rtu", str(link), "--baud", str(baud), "--parity", parity],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    name = proc.stdout.readline().strip()     # the simulator prints the pty name when ready
    if not name.startswith("/dev/"):
        proc.kill()
        raise SystemExit(f"simulator did not start (said {name!r})")
    return proc, name


async def rtu_poll(link: Path, lights: int, baud: int, parity: str, seconds: float,
                   warmup: float) -> dict:
    """Poll all controllers as fast as the bus allows; count registers read."""
    bus = ModbusRtuBus("rs485-bench", str(link), baudrate=baud, parity=parity, timeout_s=0.5)
    if not await bus.connect():
        raise SystemExit(f"cannot open {link}")
    profile = load_profile(PROFILE)
    devices = [ModbusDevice(f"L-{u:03d}", bus, u, profile) for u in range(1, lights + 1)]
    per_poll = sum(b.count for b in devices[0].blocks)
    tally = {"good": 0, "bad": 0, "measuring": False}

    def sink(reading):
        if tally["measuring"]:
            tally["good" if reading["quality"] == "good" else "bad"] += 1

    # period far below what the bus can serve: the scheduler always has work
    targets = [PollTarget(d.device_id, 0.05, d.read) for d in devices]
    scheduler = BusScheduler("rs485-bench", targets, sink, time.monotonic,
                             lambda: int(time.time() * 1000))
    task = asyncio.create_task(scheduler.run_loop(), name="bus.rs485-bench.poll")
    await asyncio.sleep(warmup)
    errors_before = bus.counters.as_dict()
    cpu0, t0 = time.process_time(), time.monotonic()
    tally["measuring"] = True
    await asyncio.sleep(seconds)
    tally["measuring"] = False
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    bus.close()
    errors = {k: v - errors_before[k] for k, v in bus.counters.as_dict().items()
              if k != "late_replies"}
    errors["late_replies"] = sum(bus.counters.late_replies.values())
    return {"elapsed_s": elapsed, "polls": tally["good"], "failed_polls": tally["bad"],
            "registers": tally["good"] * per_poll, "blocks": devices[0].blocks,
            "agent_cpu_s": cpu, "line_errors": errors}


def run_rtu(args) -> int:
    """The `rtu` subcommand."""
    link = Path(tempfile.mkdtemp(prefix="lentera-bench-")) / "rs485"
    proc, pty_name = start_simulator(args.lights, args.baud, args.parity, link)
    try:
        result = asyncio.run(rtu_poll(link, args.lights, args.baud, args.parity,
                                      args.seconds, args.warmup))
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(link.parent, ignore_errors=True)     # only the pty's link lived there
    theory = rtu_theory(result["blocks"], args.baud, args.parity, turnaround_s=0.0)
    achieved = result["registers"] / result["elapsed_s"]
    ratio = achieved / theory["registers_per_s"]
    blocks = ", ".join(f"{b.table} {b.address}+{b.count}" for b in result["blocks"])
    print(f"RTU {args.baud} {args.parity}, {args.lights} x {PROFILE} on {pty_name}, "
          f"{result['elapsed_s']:.1f} s measured")
    print(f"  request mix per poll: {len(result['blocks'])} reads ({blocks}), "
          f"{theory['registers_per_poll']} registers")
    print(f"  modelled line time per poll: {theory['poll_s'] * 1000:.2f} ms "
          f"(char {theory['char_s'] * 1000:.3f} ms, t3.5 {theory['gap_s'] * 1000:.3f} ms, "
          "turnaround 0)")
    print(f"  polls: {result['polls']} good, {result['failed_polls']} failed; "
          f"line errors {result['line_errors']}")
    print(f"  register reads/s: achieved {achieved:.1f}, theoretical "
          f"{theory['registers_per_s']:.1f}, ratio {ratio:.3f} (target >= 0.95)")
    print(f"  agent CPU: {result['agent_cpu_s'] / result['elapsed_s']:.3f} s/s")
    return 0 if ratio >= 0.95 and not result["failed_polls"] else 1


# --- RS-485 garbage -----------------------------------------------------------------

def run_garbage(args) -> int:
    """The `garbage` subcommand (the suite runs the same for 3 s)."""
    from tests.drivers.modbus.rtu.responder import Responder
    from tests.drivers.modbus.rtu.test_rtu_adversarial import (TIMEOUT_S, UNITS, WINDOW_S,
                                                              Fleet)
    responder = Responder(UNITS, timeout_s=TIMEOUT_S, noise_every=10 ** 9,
                          garbage_bps=args.rate).start()
    marks = {}

    def enough(readings):
        if "quiet" not in marks and time.monotonic() - marks["start"] >= args.seconds:
            responder.set_garbage(0)
            marks["quiet"] = len(readings)
        return "quiet" in marks and len(readings) - marks["quiet"] >= 60

    async def main():
        bus = ModbusRtuBus("rs485", responder.path, baudrate=115200, timeout_s=TIMEOUT_S,
                           late_window_s=WINDOW_S)
        if not await bus.connect():
            raise SystemExit(f"cannot open {responder.path}")
        marks["start"] = time.monotonic()
        fleet = Fleet(bus, enough)
        await fleet.run(args.seconds + 60)
        bus.close()
        return fleet, bus.counters
    try:
        fleet, counters = asyncio.run(main())
    finally:
        responder.stop()
    noisy, after = fleet.readings[:marks["quiet"]], fleet.readings[marks["quiet"]:]
    print(f"RS-485 garbage: {responder.garbage_sent} random bytes in {args.seconds:g} s "
          f"({responder.spliced} replies spliced), then quiet; timeout {TIMEOUT_S} s, "
          f"late window {WINDOW_S} s")
    print(f"  polls during noise: {len(noisy)}; good share "
          + ", ".join(f"{d} {fleet.good_share(d, noisy):.2f}" for d in ("late", "noisy",
                                                                          "healthy")))
    print(f"  misattributed values: {len(fleet.misattributed())}; longest transaction "
          f"{fleet.longest * 1000:.0f} ms")
    print(f"  line counters: {counters.as_dict()}")
    recovery = {}
    for device in ("noisy", "healthy"):
        mine = [r["quality"] for r in after if r["device"] == device]
        bad = [i for i, q in enumerate(mine) if q != "good"]
        recovery[device] = bad[-1] + 1 if bad else 0
    print(f"  polls until good again after the noise: {recovery} (target <= 2)")
    ok = (not fleet.misattributed() and max(recovery.values()) <= 2
          and fleet.longest < TIMEOUT_S + WINDOW_S + 1.0)
    return 0 if ok else 1


# --- TCP: see bench/tcp_fleet.py ------------------------------------------------------


def main(argv=None) -> int:
    """Parse arguments and run one benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rtu = sub.add_parser("rtu", help="Modbus RTU line throughput vs theoretical line rate")
    rtu.add_argument("--lights", type=int, default=60)
    rtu.add_argument("--baud", type=int, default=9600)
    rtu.add_argument("--parity", choices=["N", "E", "O"], default="N")
    rtu.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    rtu.add_argument("--warmup", type=float, default=3.0)
    rtu.set_defaults(run=run_rtu)
    garbage = sub.add_parser("garbage", help="RS-485 noise beside live units, then recovery")
    garbage.add_argument("--seconds", type=float, default=30.0)
    garbage.add_argument("--rate", type=int, default=1000, help="random bytes per second")
    garbage.set_defaults(run=run_garbage)
    add_tcp_parser(sub)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
