"""The fleet CLI imports what a command needs when it runs (agent/fleet/cli.py): the gateway's
`lentera`, which adds `fleet` as a group, must start where the fleet's extras (asyncpg,
orjson) are not installed, and a fleet command run there says what to install. And every
import a command makes when it runs names something that exists, so a rename cannot hide
until an operator runs that command."""

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CLI_MODULES = ("agent/fleet/cli.py", "agent/fleet/cli_serve.py", "agent/fleet/cli_command.py")
# run before anything else in the child: the fleet's extras cannot be imported there
WITHOUT_EXTRAS = """
import sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('asyncpg', 'orjson'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Absent())
sys.argv = ['lentera'] + sys.argv[1:]
import runpy
runpy.run_module('agent.cli', run_name='__main__')
"""


def without_extras(*args):
    return subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS, *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))


@pytest.mark.parametrize("args", [["--help"], ["fleet", "--help"], ["fleet", "ingest", "--help"],
                                  ["fleet", "command", "--help"], ["fleet", "serve", "--help"]])
def test_lentera_and_its_fleet_help_start_without_the_fleet_extras(args):
    done = without_extras(*args)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout


def test_a_fleet_command_without_the_extras_says_what_to_install():
    done = without_extras("fleet", "migrate", "--db", "postgresql://nobody@127.0.0.1:1/x")
    assert done.returncode == 1
    assert "lentera fleet needs asyncpg, not installed" in done.stderr
    assert "lentera[fleet]" in done.stderr and "Traceback" not in done.stderr


def lazy_imports():
    """(module file, line, imported module, names) of every import inside a function."""
    for rel in CLI_MODULES:
        tree = ast.parse((REPO / rel).read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom):
                    yield rel, node.lineno, node.module, [a.name for a in node.names]
                elif isinstance(node, ast.Import):
                    for a in node.names:
                        yield rel, node.lineno, a.name, []


def test_every_import_a_command_makes_when_it_runs_exists():
    found = list(lazy_imports())
    assert len(found) > 15 and any(m == "agent.fleet.ingest" for _f, _l, m, _n in found)
    broken = []
    for rel, line, module, names in found:
        try:
            imported = importlib.import_module(module)
        except ImportError as exc:
            broken.append(f"{rel}:{line}: {module}: {exc}")
            continue
        for name in names:
            if not hasattr(imported, name) and importlib.util.find_spec(
                    f"{module}.{name}") is None:
                broken.append(f"{rel}:{line}: {module} has no {name}")
    assert not broken, "\n".join(broken)


def test_the_check_sees_a_broken_lazy_import(tmp_path, monkeypatch):
    """The walk above finds imports inside functions (a rename there would fail)."""
    fake = tmp_path / "agent/fleet/cli.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("def f():\n    from agent.fleet.ingest import NoSuchWorker\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "CLI_MODULES", ("agent/fleet/cli.py",))
    assert list(lazy_imports()) == [("agent/fleet/cli.py", 2, "agent.fleet.ingest",
                                     ["NoSuchWorker"])]
