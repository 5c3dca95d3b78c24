"""Runs the MicroPython-compatible packages' unit tests under the official MicroPython WebAssembly port."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "tests" / "micropython"
RUN = HARNESS / "run.mjs"
NPM_PACKAGE = HARNESS / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
INSTALL_HINT = "install it with: npm install --prefix tests/micropython  (from the repository root)"
TIMEOUT_S = 120

# (packages copied into the interpreter, test directories run there)
SUITES = {
    "edge_rules": (["edge_rules"], ["tests/edge_rules"]),
    "agent_core": (["edge_rules", "agent/core", "drivers/errors.py"],
                   ["tests/agent/core"]),
}


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (Node.js >= 18) is not on PATH: the MicroPython tests need it; "
                    "install Node.js, then: npm install --prefix tests/micropython")
    if not NPM_PACKAGE.is_dir():
        pytest.fail(f"the npm package @micropython/micropython-webassembly-pyscript is missing "
                    f"({NPM_PACKAGE}); {INSTALL_HINT}")
    return node


def run_harness(packages: list[str], test_dirs: list[str], root: Path = REPO) -> subprocess.CompletedProcess:
    """Run run.mjs for the given package and test directories; return the finished process."""
    args = [_node(), str(RUN), "--root", str(root)]
    for test_dir in test_dirs:
        args += ["--tests", test_dir]
    return subprocess.run(args + packages, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_suite_passes_under_micropython(suite: str) -> None:
    packages, test_dirs = SUITES[suite]
    proc = run_harness(packages, test_dirs)
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"MicroPython run of {suite} failed:\n{report}"
    assert " passed, 0 failed" in proc.stdout, report
    passed = int(proc.stdout.rsplit(" passed, 0 failed", 1)[0].split()[-1])
    assert passed > 0, f"no tests ran under MicroPython:\n{report}"


def test_harness_fails_on_cpython_only_feature(tmp_path: Path) -> None:
    pkg = tmp_path / "cpython_only"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text(
        "from dataclasses import dataclass\n\n\n@dataclass\nclass Point:\n    x: int\n")
    tests = tmp_path / "tests_cpython_only"
    tests.mkdir()
    (tests / "test_model.py").write_text(
        "from cpython_only.model import Point\n\n\ndef test_point():\n    assert Point(1).x == 1\n")
    proc = run_harness(["cpython_only"], [str(tests)], root=tmp_path)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "dataclasses" in proc.stdout + proc.stderr


def test_harness_fails_on_failing_assertion(tmp_path: Path) -> None:
    tests = tmp_path / "tests_fail"
    tests.mkdir()
    (tests / "test_fail.py").write_text("def test_wrong():\n    assert 1 + 1 == 3\n")
    proc = run_harness([], [str(tests)], root=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "0 passed, 1 failed" in proc.stdout


def test_harness_awaits_async_tests_and_fails_on_their_errors(tmp_path: Path) -> None:
    tests = tmp_path / "tests_async"
    tests.mkdir()
    (tests / "test_async.py").write_text(
        "import asyncio\n\n\nasync def test_ok():\n    await asyncio.sleep(0.001)\n\n\n"
        "async def test_wrong():\n    await asyncio.wait_for(asyncio.sleep(0), 1)\n"
        "    assert 'awaited' == 'not awaited'\n")
    proc = run_harness([], [str(tests)], root=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 passed, 1 failed" in proc.stdout
