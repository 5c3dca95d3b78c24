"""`lentera run` imports only what the config uses: every library a gateway may not need costs
megabytes of RSS on a 512 MB board (docs/benchmarks.md, "Memory"). A fresh interpreter
imports the CLI and the agent as `lentera run` does, loads a gateway.yaml and builds the
agent's field and watch; the libraries in sys.modules are then compared with the config."""

import json
import subprocess
import sys
from pathlib import Path

from tests.support.gateway_files import write_gateway

REPO = Path(__file__).resolve().parents[3]
# library -> the config that needs it
OPTIONAL = {"numpy": "anomaly.enabled", "aiohttp": "console.listen",
            "cryptography": "provisioning only", "google.protobuf": "sparkplug.enabled",
            "pymodbus": "an RTU bus", "serial": "an RTU bus or serial_sensors",
            "prometheus_client": "metrics.listen", "ruamel": "provisioning only",
            "asyncpg": "the fleet side only"}

PROBE = """
import json, sys
import agent.cli
from agent.app import Agent
from agent.config.loading import load_config
agent = Agent(load_config(sys.argv[1]))
agent._build_field()
agent.watch = agent._build_watch()
print(json.dumps(sorted(m for m in %r if m in sys.modules)))
""" % (sorted(OPTIONAL),)


def _loaded(config: Path) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(config)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_tcp_gateway_without_anomaly_detection_imports_no_optional_library(tmp_path):
    config = write_gateway(tmp_path / "gw.yaml", "mqtt://127.0.0.1:1", 5020, 3,
                           extra="anomaly: {enabled: false}\n")
    loaded = _loaded(config)
    assert loaded == [], {m: OPTIONAL[m] for m in loaded}


def test_anomaly_detection_brings_numpy_and_nothing_else(tmp_path):
    config = write_gateway(tmp_path / "gw.yaml", "mqtt://127.0.0.1:1", 5020, 3)
    assert _loaded(config) == ["numpy"]
