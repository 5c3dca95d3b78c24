"""Where the agent's memory goes: peak RSS at N lights, by import, by stage and by mapping.

1. In a fresh interpreter, the RSS after each group of imports the running agent makes
   (interpreter, asyncio, click, pydantic + the config models, numpy + the anomaly watch, ...),
   then after loading the gateway.yaml of N lights and building the buses.
2. The real agent (`lentera run`, its own process) polling N simulated lights over Modbus TCP
   (the simulators and a private mosquitto as in bench/tcp_fleet.py): after the warm-up and the
   window, VmHWM (peak RSS, the figure the issue counts), VmRSS, the thread count, and the RSS
   split by mapping (Python's heap and anonymous memory, each shared library) from
   /proc/PID/smaps.

`--env NAME=VALUE` (repeatable) runs the agent with that environment, e.g. MALLOC_ARENA_MAX=2
against the default, alternating in one run (`--rounds`). `--variant 'A=1 B=2'` (repeatable)
adds one more environment each, so several can be compared in one run. The runs share one work
folder: a run loads the anomaly state the run before saved (~2 MB more at 500 lights), unless
`--no-state` removes it before every run so that every variant starts alike.

`--pycache DIR` runs every variant with its modules' compiled .pyc files in DIR
(PYTHONPYCACHEPREFIX), written first by one import pass per PYTHONOPTIMIZE level. An installed
agent has them (pip compiles at install); a checkout run with PYTHONDONTWRITEBYTECODE=1 (as on the
team's box) compiles its own modules from source at every start, which costs ~1 MB more.

`--tracemalloc S` runs the agent under tracemalloc instead (its RSS is then not the agent's:
tracemalloc costs memory of its own) and prints, S seconds after start, the 15 source files
whose live allocations are largest: where the Python-level heap goes.

Run: .venv/bin/python bench/agent_memory.py [--endpoints 10 --units 100 --seconds 20]
     [--env MALLOC_ARENA_MAX=2] [--variant 'MALLOC_ARENA_MAX=1'] [--no-state] [--rounds 2]
     [--pycache /tmp/pyc] [--agent-root CHECKOUT] [--tracemalloc 60]
"""

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tcp_fleet import REPO, _config  # noqa: E402  (bench/ is the script's own folder)
from agent.demo.broker import Broker, free_port, wait_port  # noqa: E402

# what the running agent imports, in the order it does; each line's RSS growth is its cost
STAGES = [("interpreter", ""),
          ("asyncio, logging", "import asyncio, logging"),
          ("click + the CLI", "import agent.cli"),
          ("pydantic + config models", "import agent.config.loading"),
          ("sqlite3 + the outbox", "import agent.northbound, agent.store.outbox"),
          ("paho + the uplink", "import agent.uplink.mqtt, agent.uplink.commands"),
          ("numpy + the anomaly watch", "import agent.services.watch"),
          ("the rest of agent.app", "import agent.app"),
          ("uvloop", "import uvloop")]

PROBE = r"""
import re, sys, time
def rss():
    return int(re.search(r'VmRSS:\s+(\d+)', open('/proc/self/status').read()).group(1)) / 1024
for name, code in STAGES:
    exec(code)
    print(f'{rss():7.1f} MB  {name}  ({len(sys.modules)} modules)', flush=True)
from agent.config.loading import load_config
cfg = load_config(CONFIG)
print(f'{rss():7.1f} MB  gateway.yaml of {len(cfg.devices)} devices loaded', flush=True)
from agent.app import Agent
agent = Agent(cfg)
agent._build_field()
print(f'{rss():7.1f} MB  buses and schedulers built', flush=True)
"""


# the agent's own `lentera run`, with a thread that prints tracemalloc's top files after S s
TRACED = r"""
import os, sys, threading, time, tracemalloc
tracemalloc.start()
def top():
    time.sleep(SECONDS)
    snap = tracemalloc.take_snapshot()
    stats = snap.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)]).statistics(
        "filename")
    total = sum(st.size for st in stats)
    lines = [f"tracemalloc after {SECONDS:.0f} s: {total / 2**20:.2f} MB live in "
             f"{len(stats)} files; top 15:"]
    lines += [f"  {st.size / 2**20:7.2f} MB {st.count:8d} blocks  {st.traceback[0].filename}"
              for st in stats[:15]]
    open(OUT + ".part", "w").write("\n".join(lines) + "\n")
    os.replace(OUT + ".part", OUT)
threading.Thread(target=top, name="bench.tracemalloc", daemon=True).start()
sys.argv = ["lentera", "run", "-c", CONFIG]
from agent.cli import main
main()
"""


# what `lentera run` imports (the warm-up pass of --pycache)
WARM = ("import agent.cli, agent.app, agent.services.watch, agent.sparkplug.wiring, "
        "agent.platform.sdnotify, agent.local.boot, uvloop")


def warm_pycache(args, variants: list[dict]) -> None:
    """Compile what the agent imports into args.pycache, once per optimize level used."""
    for level in sorted({env.get("PYTHONOPTIMIZE", "") for env in variants}):
        subprocess.run([sys.executable, "-c", WARM], cwd=args.agent_root, check=True,
                       env={**os.environ, "PYTHONPYCACHEPREFIX": args.pycache,
                            "PYTHONOPTIMIZE": level, "PYTHONDONTWRITEBYTECODE": ""})
    for env in variants:
        env.setdefault("PYTHONPYCACHEPREFIX", args.pycache)


def run_traced(args, work: Path, config: Path) -> str:
    """The agent under tracemalloc for args.tracemalloc s; its top-15 files by live size."""
    out = work / "tracemalloc.txt"
    code = f"SECONDS = {args.tracemalloc!r}\nCONFIG = {str(config)!r}\nOUT = {str(out)!r}\n"
    agent = subprocess.Popen([sys.executable, "-c", code + TRACED], cwd=args.agent_root,
                             stderr=open(work / "agent.log", "ab"))
    try:
        deadline = time.monotonic() + args.tracemalloc + 60
        while not out.exists() and time.monotonic() < deadline and agent.poll() is None:
            time.sleep(1.0)
        return out.read_text() if out.exists() else "no tracemalloc figures (see agent.log)"
    finally:
        agent.terminate()
        agent.wait(15)


def smaps(pid: int) -> collections.Counter:
    """RSS in kB per mapping name ('[anon]' for anonymous) of process pid."""
    out, name = collections.Counter(), None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if parts and "-" in parts[0] and not parts[0].endswith(":"):
            name = parts[5] if len(parts) > 5 else "[anon]"
        elif parts and parts[0] == "Rss:":
            out[name] += int(parts[1])
    return out


def status(pid: int) -> dict:
    """VmHWM, VmRSS (MB) and Threads of process pid."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"hwm": int(fields["VmHWM"].split()[0]) / 1024,
            "rss": int(fields["VmRSS"].split()[0]) / 1024, "threads": int(fields["Threads"])}


def _group(name: str) -> str:
    for key in ("numpy", "pydantic_core", "libpython", "libcrypto", "libssl", "uvloop",
                "sqlite", "yaml"):
        if key in name:
            return key
    return name if name.startswith("[") else "other files"


def run_agent(args, work: Path, config: Path, env: dict) -> dict:
    """One agent run against the simulators; its figures after warm-up and window."""
    agent = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "-c", str(config)],
                             cwd=args.agent_root, env={**os.environ, **env},
                             stderr=open(work / "agent.log", "ab"))
    try:
        time.sleep(args.warmup + args.seconds)
        figures = status(agent.pid)
        groups = collections.Counter()
        for name, kb in smaps(agent.pid).items():
            groups[_group(name)] += kb
        figures["groups"] = groups
        return figures
    finally:
        agent.terminate()
        agent.wait(15)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--poll", default="1s")
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--variant", action="append", default=[], metavar="'NAME=VALUE ...'",
                        help="one more environment to compare (repeatable)")
    parser.add_argument("--pycache", metavar="DIR",
                        help="compiled modules in DIR for every run (PYTHONPYCACHEPREFIX)")
    parser.add_argument("--no-state", action="store_true",
                        help="remove the anomaly state file before every run")
    parser.add_argument("--agent-root", default=str(REPO))
    parser.add_argument("--tracemalloc", type=float, metavar="S",
                        help="print the top 15 files by live allocation S s after start")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lentera-bench-mem-"))
    broker = Broker().start()
    ports = [free_port() for _ in range(args.endpoints)]
    config = _config(work, broker.port, ports, args.units, 4, poll=args.poll)
    print(f"{args.endpoints * args.units} lights @ {args.poll}; imports and start-up, "
          f"{args.agent_root}:", flush=True)
    subprocess.run([sys.executable, "-c", f"STAGES = {STAGES!r}\nCONFIG = {str(config)!r}\n"
                    + PROBE], cwd=args.agent_root, check=True)
    sims = [subprocess.Popen([sys.executable, "-m", "agent.cli", "simulate", "--lights",
                              str(args.units), "--tcp", f"127.0.0.1:{port}", "--seed", str(i)],
                             cwd=REPO, stderr=subprocess.DEVNULL) for i, port in enumerate(ports)]
    variants = [{}] + ([dict(e.split("=", 1) for e in args.env)] if args.env else [])
    variants += [dict(e.split("=", 1) for e in v.split()) for v in args.variant]
    if args.pycache:
        warm_pycache(args, variants)
    try:
        for port in ports:
            wait_port(port, timeout=60.0)
        if args.tracemalloc:
            print(run_traced(args, work, config), end="", flush=True)
            return 0
        for _ in range(args.rounds):
            for env in variants:
                if args.no_state:
                    (work / "anomaly.npz").unlink(missing_ok=True)
                f = run_agent(args, work, config, env)
                label = " ".join(f"{k}={v}" for k, v in env.items()) or "default environment"
                print(f"agent, {label}: peak RSS (VmHWM) {f['hwm']:.1f} MB, RSS {f['rss']:.1f} MB, "
                      f"{f['threads']} threads; RSS by mapping: " + ", ".join(
                          f"{k} {v / 1024:.1f}" for k, v in f["groups"].most_common(9)),
                      flush=True)
    finally:
        for sim in sims:
            sim.terminate()
        for sim in sims:
            sim.wait(10)
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
