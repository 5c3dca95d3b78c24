"""The bench scripts leave nothing in the temp folder after a good run (before: every
`bench/bus_throughput.py tcp` run left a lentera-bench-tcp-* folder with its logs, and every
`rtu` run a lentera-bench-* folder). A failed run keeps its folder and prints where it is."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("args", [
    ["tcp", "--endpoints", "1", "--units", "20", "--seconds", "2", "--warmup", "3"],
    ["rtu", "--lights", "2", "--seconds", "1", "--warmup", "0.5"],
], ids=["tcp", "rtu"])
def test_a_bench_run_leaves_its_temp_folder_clean(tmp_path, args):
    done = subprocess.run([sys.executable, "bench/bus_throughput.py", *args], cwd=REPO,
                          env={**os.environ, "TMPDIR": str(tmp_path)},
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "kept" not in done.stdout, done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [], done.stdout
