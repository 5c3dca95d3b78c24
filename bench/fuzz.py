"""Coverage-guided fuzzing of every decoder that takes bytes from outside.

Decoders (properties in tests/drivers/fuzz_props.py): the RTU reply scanner, the
MBAP decoder, the SDS011 / PMS5003 / ASCII serial parsers, the signed-command
envelope decoder, the gateway.yaml loader, the Sparkplug NCMD/DCMD and STATE
decoders (agent/sparkplug/) and the TALQ body, OverrideCommand and LoggerConfig decoders, PATCH
bodies, data packages and the CMS's bootstrap answer (agent/talq/; tests/drivers/fuzz_talq.py). Each runs in its own process under
atheris (libFuzzer; `pip install atheris`, x86_64 wheels) with our packages
instrumented, seeded with valid inputs. Without atheris, hypothesis runs the same
properties with --runs examples (no coverage figure then).

Prints, per decoder: inputs run, execs/s, coverage (libFuzzer edges / features,
corpus size), and every crash (an exception other than the decoder's own
documented error, a hang past -timeout, a property violated), with the file
libFuzzer wrote the input to. Exit status 1 when anything crashed.

Run: .venv/bin/python bench/fuzz.py [--runs 1000000] [--only rtu,mbap] [--jobs 1]
"""

import argparse
import os
import re
import subprocess
import sys
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS = ("rtu", "mbap", "sds011", "pms5003", "ascii", "envelope", "config", "spb_cmd",
           "spb_state", "talq_override", "talq_logger", "talq_override_tree",
           "talq_logger_tree", "talq_patch_tree", "talq_packages_tree", "talq_bootstrap_tree")


def seeds(name: str) -> list[bytes]:
    """Valid inputs to start from (imported late: the child instruments first)."""
    sys.path.insert(0, str(REPO))
    from drivers.modbus.rtu_frame import with_crc
    from drivers.sim.serial_emitters import pms5003_frame, sds011_frame
    if name == "rtu":      # header bytes pick unit/fc/count (fuzz_props.check_rtu)
        return [bytes([0, 0, 1, 3]) + with_crc(b"\x01\x03\x04\x00\x01\x00\x02"),
                bytes([4, 1, 3, 0]) + b"\x00" + with_crc(b"\x05\x04\x08" + bytes(8))]
    if name == "mbap":
        return [b"\x01\x00\x01" + b"\x00\x01\x00\x00\x00\x07\x01\x03\x04\x00\x01\x00\x02"]
    if name == "sds011":
        return [sds011_frame(12.3, 45.6)]
    if name == "pms5003":
        return [pms5003_frame(5, 10, 20)]
    if name == "ascii":
        return [b"T=21.5 H=455\r\nT=-3e1 H=1\n"]
    if name == "spb_cmd":         # a rebirth request, and a DCMD writing dim
        from tests.support.sparkplug_host import Payload
        rebirth, write = Payload(timestamp=1), Payload(timestamp=1)
        rebirth.metrics.add(name="Node Control/Rebirth", datatype=11, boolean_value=True)
        write.metrics.add(alias=4, int_value=40)
        return [rebirth.SerializeToString(), write.SerializeToString()]
    if name == "spb_state":
        return [b'{"online": true, "timestamp": 1767225600123}']
    if name == "talq_override":   # first byte: content-encoding (identity, gzip, deflate)
        import gzip
        import json
        import uuid
        light = str(uuid.uuid5(uuid.UUID("00000000-0000-0000-0000-000000006a7e"), "L-001"))
        road = str(uuid.uuid5(uuid.UUID("00000000-0000-0000-0000-000000006a7e"), "group:road"))
        body = json.dumps({"addresses": [{"resource": "devices", "address": light},
                                         {"resource": "groups", "address": road}],
                           "targetCommand": {"reason": "override", "cmsRefId": "x",
                                             "expiration": "2027-10-16T03:33:12Z",
                                             "rampToLevelTime": 0.5,
                                             "state": {"name": "LevelState", "value": 50}}})
        return [b"\x00" + body.encode(), b"\x01" + gzip.compress(body.encode()),
                b"\x00" + json.dumps({"addresses": [{"resource": "devices",
                                                      "address": light + "/lampActuator"}]}).encode()]
    if name == "talq_logger":
        import json
        body = {"address": "faults", "ownerCMS": "x",
                "sourceAddresses": {"blackList": [{"resource": "groups", "address": "nope"}]},
                "recordingMode": {"type": "EventRecordingMode",
                                  "sourceEvents": {"whiteList": ["lampFailure"], "blackList": []}},
                "reportingMode": {"type": "ImmediateReportingMode", "delay": 5}}
        periodic = dict(body, recordingMode={
            "type": "PeriodicRecordingMode",
            "content": [{"function": {"functionType": "LampMonitorFunction",
                                      "attributes": [{"name": "supplyVoltage",
                                                      "onChangeThreshold": 5}]}}],
            "samplingProfiles": [{"samplingStartTime": "2027-01-01T00:00:00Z",
                                  "samplingPeriod": "PT15M",
                                  "samplingEndTime": "2027-02-01T00:00:00+07:00"}],
            "activePeriods": [{"name": "AbsoluteActivePeriod", "startTime": "21:30:00",
                               "endTime": "07:00:00"},
                              {"name": "AstroClockActivePeriod", "sunsetOffset": -15,
                               "sunriseOffset": 10}]})
        return [b"\x00" + json.dumps(body).encode(), b"\x00" + json.dumps(periodic).encode()]
    if name.endswith("_tree"):      # opcodes of tests.drivers.fuzz_props.talq_tree
        return [bytes([0, 2, 5, 1, 1, 0, 2, 2, 8, 25, 8, 5, 1, 8, 2, 0, 1, 8, 7]), bytes(64)]
    if name == "envelope":
        return [b'{"payload": "{\\"cmd\\": \\"dim\\"}", "sig": "00ff"}']
    cases = sorted((REPO / "tests" / "config_cases").glob("*/gateway.yaml"))
    return [(REPO / "deploy" / "raspberrypi" / "gateway.example.yaml").read_bytes()] + [
        c.read_bytes() for c in cases[:10]]


def child(name: str, runs: int, corpus: Path, artifacts: Path, max_len: int) -> None:
    """Fuzz one decoder in this process (never returns: libFuzzer exits)."""
    import atheris
    sys.path.insert(0, str(REPO))
    with atheris.instrument_imports(include=["drivers", "agent", "tests.drivers"]):
        from tests.drivers.fuzz_talq import ALL_CHECKS as CHECKS
    check = CHECKS[name]
    atheris.Setup([sys.argv[0], f"-runs={runs}", "-print_final_stats=1", "-timeout=10",
                   f"-max_len={max_len}", "-rss_limit_mb=2048", f"-artifact_prefix={artifacts}/",
                   str(corpus)], check)
    atheris.Fuzz()


def fuzz_one(name: str, runs: int, work: Path) -> dict:
    """Run one decoder's fuzzer as a child process; its figures."""
    corpus, artifacts = work / name / "corpus", work / name / "artifacts"
    corpus.mkdir(parents=True)
    artifacts.mkdir(parents=True)
    for i, seed in enumerate(seeds(name)):
        (corpus / f"seed-{i}").write_bytes(seed)
    # the envelope up to the intake's 16 kB limit: deep nesting needs 1,000+ bytes
    max_len = {"config": 8192, "envelope": 16384, "talq_override": 4096,
               "talq_logger": 4096}.get(name, 1024)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, __file__, "--child", name, "--runs", str(runs),
                           "--corpus", str(corpus), "--artifacts", str(artifacts),
                           "--max-len", str(max_len)],
                          capture_output=True, text=True, cwd=REPO)
    elapsed = time.monotonic() - t0
    log = proc.stderr
    done = re.findall(r"#(\d+)\s+(?:DONE|pulse|NEW|REDUCE|INITED)\s+cov: (\d+) ft: (\d+)"
                      r"(?: corp: (\d+))?", log)
    execs = re.search(r"stat::number_of_executed_units: (\d+)", log)
    crashes = sorted(str(p) for p in artifacts.iterdir())
    error = None
    if proc.returncode != 0:
        found = re.search(r"(=== Uncaught Python exception: ===.*?)(?:\n\n|==\d+==)", log, re.S)
        error = (found.group(1) if found else log[-1500:]).strip()
    last = done[-1] if done else ("0", "?", "?", "?")
    return {"name": name, "runs": int(execs.group(1)) if execs else int(last[0]),
            "elapsed": elapsed, "cov": last[1], "ft": last[2], "corpus": last[3] or "?",
            "crashes": crashes, "error": error}


def hypothesis_one(name: str, runs: int) -> dict:
    """The fallback without atheris: the same property, `runs` hypothesis examples."""
    sys.path.insert(0, str(REPO))
    from hypothesis import HealthCheck, given, settings, strategies as st
    from tests.drivers.fuzz_talq import ALL_CHECKS as CHECKS
    count = [0]
    error = None

    @settings(max_examples=runs, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=1024))
    def run(data):
        count[0] += 1
        CHECKS[name](data)
    t0 = time.monotonic()
    try:
        run()
    except Exception as exc:      # a crash is the finding: report it, go on with the next
        error = repr(exc)
    return {"name": name, "runs": count[0], "elapsed": time.monotonic() - t0, "cov": "n/a",
            "ft": "n/a", "corpus": "n/a", "crashes": [error] if error else [], "error": error}


def main(argv=None) -> int:
    """Fuzz each decoder in turn and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--only", default=",".join(TARGETS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--artifacts", help=argparse.SUPPRESS)
    parser.add_argument("--max-len", type=int, default=1024, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.runs, Path(args.corpus), Path(args.artifacts), args.max_len)
        return 0
    try:
        import atheris  # noqa: F401
        engine = "atheris " + _atheris_version()
    except ImportError:
        engine = None
    work = Path(tempfile.mkdtemp(prefix="lentera-fuzz-"))
    print(f"engine: {engine or 'hypothesis (atheris not installed: no coverage figure)'}; "
          f"{args.runs} inputs per decoder; artifacts under {work}", flush=True)
    failed = False
    for name in args.only.split(","):
        r = fuzz_one(name, args.runs, work) if engine else hypothesis_one(name, args.runs)
        print(f"{name:9s} {r['runs']:>9d} inputs  {r['runs'] / r['elapsed']:>8.0f} execs/s  "
              f"cov {r['cov']} edges, ft {r['ft']}, corpus {r['corpus']}  "
              f"crashes {len(r['crashes'])}  ({r['elapsed']:.0f} s)", flush=True)
        for crash in r["crashes"]:
            print(f"    crash input: {crash}")
        if r["error"]:
            failed = True
            print("    " + r["error"].replace("\n", "\n    "))
    if failed:
        print(f"artifacts kept under {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)      # a clean run leaves nothing behind
    return 0


def _atheris_version() -> str:
    from importlib.metadata import version
    return version("atheris")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
