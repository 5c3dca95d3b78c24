"""TCP fleet benchmark: 500 street-light controllers over 5 Modbus TCP endpoints, polled every second.

The real agent (`lentera run`, its own process, outbox and anomaly detection on) polls
5 simulator processes (100 units each) and publishes to a private mosquitto; this
script subscribes and measures, over a window after warm-up:
  - share of readings delivered: distinct `seq` received / seq range committed (loss shows as < 100 %)
  - achieved polls per device per second (1.0 = every device every second)
  - read-to-broker latency p50/p99: subscriber receive time - reading `ts`
  - agent CPU milliseconds per poll (CPU-seconds from /proc, so load on the box does not
    inflate it the way wall time would), split into the event-loop (main) thread and the
    others (paho's network thread, the outbox's SQLite thread), points per agent CPU-second
    (12 points a poll: 2 reads of the streetlight-generic profile), peak RSS (VmHWM)
`--agent-root` runs another checkout's agent (bench/cpu_per_poll.py alternates two).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from agent.demo.broker import Broker, free_port, wait_port  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
CMS_ADDRESS = "00000000-0000-0000-0000-000001c0ffee"
GATEWAY_ADDRESS = "00000000-0000-0000-0000-000000006a7e"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK     # utime + stime


def _thread_cpu_seconds(pid: int) -> dict:
    """CPU seconds per thread id of the process (the main thread's id is the pid)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue             # the thread ended between listing and reading
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _config(work: Path, broker_port: int, ports: list[int], units: int, in_flight: int,
            batch_window: str | None = None, sparkplug: bool = False,
            poll: str = "1s", talq: bool = False, cms_port: int = 9,
            talq_port: int | None = None, lighting: bool = False) -> Path:
    # clock: assume — schedules and commands wait for a trusted clock, and this box's may
    # not be synchronised (tests/support/gateway_files.py does the same)
    lines = ["gateway: {id: bench-gw, site: bench, location: {lat: -6.178, lon: 106.632}, "
             "timezone: Asia/Jakarta" + (", clock: assume}" if lighting else "}"),
             "uplink:", f'  mqtt: {{url: "mqtt://127.0.0.1:{broker_port}", qos: 1}}',
             "outbox: {path: outbox.db" + (f", batch_window: {batch_window}}}"
                                          if batch_window else "}"), "buses:"]
    for i, port in enumerate(ports):
        lines.append(f"  ep{i}: {{type: modbus-tcp, host: 127.0.0.1, port: {port}, "
                     f"timeout_ms: 1000, max_in_flight: {in_flight}}}")
    lines.append("devices:")
    for i in range(len(ports)):
        for u in range(1, units + 1):
            lines.append(f"  - {{id: L{i}-{u:03d}, bus: ep{i}, unit: {u}, "
                         f"profile: streetlight-generic, poll: {poll}}}")
    if sparkplug:             # the Sparkplug edge node beside the JSON topics (docs/sparkplug.md)
        lines.append("sparkplug: {enabled: true, group_id: bench}")
    if lighting:              # every light in one group on a dusk-to-dawn plan (docs/rules.md)
        ids = ", ".join(f"L{i}-{u:03d}" for i in range(len(ports)) for u in range(1, units + 1))
        lines += ["lighting:", f"  groups:\n    road: {{devices: [{ids}], schedule: night}}",
                  "  schedules:\n    night: {on: sunset, off: sunrise}",
                  "  failsafe: {level: 70}"]
    if talq:                  # the TALQ gateway interface beside them (docs/talq.md)
        from tests.support.talq_pki import make_talq_pki
        pki = make_talq_pki(work / "pki")
        # port 9 (discard): nothing answers, the bootstrap retries; --talq-cms gives a CMS
        talq_port = talq_port or free_port()
        lines.append(f'talq: {{listen: "127.0.0.1:{talq_port}", tls_cert: "{pki["server.crt"]}", '
                     f'tls_key: "{pki["server.key"]}", cms_ca: "{pki["ca.crt"]}", '
                     f'cms_uri: "https://127.0.0.1:{cms_port}/talq", '
                     f'cms_address: "{CMS_ADDRESS}", '
                     f'gateway_uri: "https://127.0.0.1:{talq_port}", '
                     f'gateway_address: "{GATEWAY_ADDRESS}"}}')
    path = work / "gateway.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Collector:
    """Subscribes to all telemetry and keeps (receive ms, ts, seq, points) per message."""

    def __init__(self, port: int):
        self.rows: list[tuple[float, int, int, int]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.sparkplug: list[float] = []     # receive ms of each Sparkplug DDATA
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            [("city/lighting/bench-gw/telemetry/#", 1)])
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        # Sparkplug DDATA on a connection of its own: on the JSON one, 500 DDATA/s interleaved
        # with the JSON messages put the JSON p99 at 65 ms instead of 30 (the measuring
        # connection, not the agent: docs/benchmarks.md, Sparkplug section)
        self.spb = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.spb.on_connect = lambda c, u, f, rc, p: c.subscribe([("spBv1.0/+/DDATA/#", 0)])
        self.spb.on_message = self._on_message
        self.spb.connect("127.0.0.1", port)
        self.spb.loop_start()

    def _on_message(self, client, userdata, msg):
        now = time.time() * 1000
        if msg.topic.startswith("spBv1.0/"):
            with self.lock:
                self.sparkplug.append(now)
            return
        body = json.loads(msg.payload)
        with self.lock:
            self.rows.append((now, body["ts"], body["seq"], len(body["values"])))

    def since(self, t0_ms: float, t1_ms: float) -> list:
        with self.lock:
            return [r for r in self.rows if t0_ms <= r[1] < t1_ms]

    def seqs(self) -> set:
        """Every seq received, whatever its reading's time."""
        with self.lock:
            return {r[2] for r in self.rows}


def run_tcp(args) -> int:
    """Run the fleet benchmark and print its figures."""
    figures = measure(args, Path(args.agent_root) if args.agent_root else REPO)
    if figures is None:
        print("no telemetry arrived: see agent.log in the kept work folder printed above")
        return 1
    _report(figures)
    return 0


def measure(args, agent_root: Path) -> dict | None:
    """One run of the agent found at agent_root; its figures, or None if nothing arrived."""
    work = Path(tempfile.mkdtemp(prefix="lentera-bench-tcp-"))
    broker = Broker().start()
    procs, logs, figures = [], [], None
    try:
        ports = [free_port() for _ in range(args.endpoints)]
        for i, port in enumerate(ports):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "agent.cli", "simulate", "--lights", str(args.units),
                 "--tcp", f"127.0.0.1:{port}", "--seed", str(i)], cwd=REPO,
                stderr=_log(logs, work / f"sim{i}.log")))
        for port in ports:
            wait_port(port, timeout=60.0)    # a loaded box starts them slowly
        collector = Collector(broker.port)
        talq = getattr(args, "talq", False)
        with_cms = talq and getattr(args, "talq_cms", False)
        cms_port, talq_port = (free_port(), free_port()) if with_cms else (9, None)
        config = _config(work, broker.port, ports, args.units, args.in_flight,
                         args.batch_window, args.sparkplug, args.poll, talq, cms_port, talq_port,
                         getattr(args, "lighting", False))
        cms = _start_cms(work, cms_port, talq_port, logs, args) if with_cms else None
        if cms is not None:
            procs.append(cms.proc)
        agent = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "-c", str(config)],
                                 cwd=agent_root, stderr=_log(logs, work / "agent.log"))
        procs.append(agent)
        print(f"{agent_root}: {args.endpoints} endpoints x {args.units} controllers, poll "
              f"{args.poll}, max_in_flight {args.in_flight}, outbox batch_window "
              f"{args.batch_window or 'default'}, sparkplug {'on' if args.sparkplug else 'off'}, "
              f"talq {('on, with a CMS' if with_cms else 'on') if talq else 'off'}, "
              f"lighting {'on' if getattr(args, 'lighting', False) else 'off'}"
              f"; warm-up {args.warmup:g} s, "
              f"window {args.seconds:g} s", flush=True)
        if cms is not None:       # the warm-up starts once the CMS's loggers are stored
            if not cms.ready.wait(120):
                print("the CMS never got its loggers stored: see cms.log", flush=True)
                return None
        time.sleep(args.warmup)
        threads0, t0 = _thread_cpu_seconds(agent.pid), time.time()
        cpu0 = _cpu_seconds(agent.pid)
        time.sleep(args.seconds)
        threads1, t1 = _thread_cpu_seconds(agent.pid), time.time()
        cpu1 = _cpu_seconds(agent.pid)
        time.sleep(2.0)              # let the window's last readings arrive
        rss = _peak_rss_mb(agent.pid)
        rows = collector.since(t0 * 1000, t1 * 1000)
        if args.sparkplug:
            ddata = [t for t in collector.sparkplug if t0 * 1000 <= t < t1 * 1000]
            print(f"sparkplug DDATA received  {len(ddata) / (t1 - t0):.0f}/s (by exception: "
                  "only readings with a change)")
        if not rows:
            return None
        if cms is not None:
            cms.proc.terminate()
            print(f"CMS: {cms.counts()}", flush=True)
        main_s = threads1.get(agent.pid, 0.0) - threads0.get(agent.pid, 0.0)
        figures = _figures(rows, args, cpu1 - cpu0, main_s, t1 - t0, rss, collector.seqs())
        return figures
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        broker.stop()
        for fh in logs:
            fh.close()
        if figures is not None:          # a good run leaves nothing behind
            shutil.rmtree(work, ignore_errors=True)
        else:                            # a failed one keeps its logs to read
            print(f"work folder kept: {work}", flush=True)


class _Cms:
    """bench/talq_cms_load.py in its own process; `ready` is set once its loggers are stored."""

    def __init__(self, proc: subprocess.Popen, log: Path):
        self.proc, self.log = proc, log
        self.ready = threading.Event()
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.decode(errors="replace").strip()
            self.lines.append(line)
            if line == "ready":
                self.ready.set()

    def counts(self) -> str:
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            return "no counts (it did not stop)"
        found = [line for line in self.lines if line.startswith("counts ")]
        return found[-1][len("counts "):] if found else f"no counts: see {self.log}"


def _start_cms(work: Path, port: int, gateway_port: int, logs: list, args) -> _Cms:
    # the CMS's load: its periodic logger's sampling period and how often it reads /devices
    load = [f"--{k.replace('_', '-')}={getattr(args, 'talq_' + k)}" for k in ("period", "read_every")
            if getattr(args, "talq_" + k, None) is not None]
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "talq_cms_load.py"), "--port", str(port),
         "--gateway-port", str(gateway_port), "--pki", str(work / "pki"),
         "--gateway-address", GATEWAY_ADDRESS, "--cms-address", CMS_ADDRESS, *load],
        cwd=REPO, stdout=subprocess.PIPE, stderr=_log(logs, work / "cms.log"))
    return _Cms(proc, work / "cms.log")


def _log(logs: list, path: Path):
    fh = open(path, "wb")
    logs.append(fh)
    return fh


def _figures(rows, args, cpu_s, main_s, wall_s, rss_mb, received=None) -> dict:
    devices = args.endpoints * args.units
    seqs = sorted({r[2] for r in rows})
    # the window is chosen by reading time, seq is given at commit: a reading polled just
    # before the window but committed inside it is a seq in the span, received, not missing
    lo, hi = seqs[0], seqs[-1]
    got = sum(1 for s in (received or seqs) if lo <= s <= hi)
    latencies = sorted(r[0] - r[1] for r in rows)
    polls = len(rows)                # one telemetry message per poll
    return {"polls_per_s": polls / wall_s, "devices": devices,
            "polls_per_device_s": polls / wall_s / devices,
            "share": got / (hi - lo + 1),
            "p50": latencies[len(latencies) // 2],
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "cpu_per_s": cpu_s / wall_s, "points_per_cpu_s": sum(r[3] for r in rows) / cpu_s,
            "cpu_ms_per_poll": cpu_s * 1000 / polls, "loop_ms_per_poll": main_s * 1000 / polls,
            "threads_ms_per_poll": (cpu_s - main_s) * 1000 / polls, "rss_mb": rss_mb}


def _report(f: dict) -> None:
    print(f"readings per second       {f['polls_per_s']:.0f}")
    print(f"polls per device per s    {f['polls_per_device_s']:.3f}  (target 1 / period)")
    print(f"delivered share (seq)     {f['share'] * 100:.2f} %  (target 100 %)")
    print(f"latency read->broker      p50 {f['p50']:.1f} ms, p99 {f['p99']:.1f} ms  "
          "(target p99 <= 25 ms)")
    print(f"agent CPU                 {f['cpu_per_s']:.3f} CPU-s/s")
    print(f"agent CPU per poll        {f['cpu_ms_per_poll']:.3f} ms (event loop "
          f"{f['loop_ms_per_poll']:.3f}, other threads {f['threads_ms_per_poll']:.3f})")
    print(f"points per agent CPU-s    {f['points_per_cpu_s']:,.0f}  (12 points a poll)")
    print(f"agent peak RSS            {f['rss_mb']:.1f} MB  (target <= 60 MB)")


def add_tcp_parser(sub) -> None:
    """Register the `tcp` subcommand on bus_throughput.py's parser."""
    tcp = sub.add_parser("tcp", help="500 Modbus TCP controllers polled every second")
    tcp.add_argument("--endpoints", type=int, default=5)
    tcp.add_argument("--units", type=int, default=100)
    tcp.add_argument("--in-flight", type=int, default=4)
    tcp.add_argument("--seconds", type=float, default=30.0, help="measurement window")
    tcp.add_argument("--warmup", type=float, default=8.0)
    tcp.add_argument("--poll", default="1s", help="every device's poll period, e.g. 250ms")
    tcp.add_argument("--agent-root", default=None,
                     help="checkout whose agent to run (default: this one)")
    tcp.add_argument("--batch-window", default=None,
                     help="outbox.batch_window for the agent, e.g. 20ms (default: the agent's)")
    tcp.add_argument("--sparkplug", action="store_true",
                     help="also run the Sparkplug B edge node (its CPU shows in agent CPU)")
    tcp.set_defaults(run=run_tcp)
