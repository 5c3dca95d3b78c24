"""`lentera demo` (what the README's first command runs) shows telemetry and lighting events."""

import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_demo_prints_telemetry_and_the_schedule_switching_lights():
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "demo", "--lights", "4",
                             "--poll", "1s"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 40
        # the lighting clock starts 20 s before sunset: off by schedule first, then on
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if '"switch": true' in line and "output_changed" in line:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=20)
    out = "".join(lines) + rest
    assert "Lentera demo: 4 simulated street lights" in out
    assert "4 lights:" in out and "L-001" in out              # the table, not a firehose
    assert "seq=" not in out
    assert "Crew console: http://127.0.0.1:" in out and "one-time account: demo / " in out
    assert '"switch": false' in out and '"source": "schedule"' in out
    assert '"switch": true' in out, out[-2000:]
    assert "demo stopped" in out and proc.returncode == 0
