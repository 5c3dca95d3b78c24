"""The layers of docs/architecture.md, enforced: each package imports only what it may."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# what a package may import (top-level module names, or dotted prefixes)
ALLOWED = {
    "edge_rules": {"edge_rules", "math", "re", "time", "micropython"},
    "agent/core": {"agent.core", "agent.errors", "edge_rules", "asyncio", "random", "time",
                   "micropython"},
}
# third-party libraries live at the edges: only these modules may import them
ADAPTERS = {
    "pymodbus": ("drivers/", "tests/", "bench/"),
    "serial": ("drivers/", "tests/", "bench/"),
    "paho": ("agent/uplink.py", "agent/demo.py", "agent/publisher.py", "agent/mqtt",
             "tests/", "bench/"),
    "sqlite3": ("agent/outbox", "agent/store", "tests/", "bench/"),
    "numpy": ("agent/anomaly/", "agent/watch.py", "tests/", "bench/"),
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _allowed(name: str, allowed: set[str]) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_pure_core_imports_only_what_it_may(package):
    bad = []
    for path in sorted((REPO / package).rglob("*.py")):
        for name in imports_of(path):
            if not _allowed(name, ALLOWED[package]):
                bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "layer violation:\n" + "\n".join(bad)


def test_libraries_are_imported_only_by_their_adapters():
    bad = []
    for path in sorted(REPO.glob("**/*.py")):
        rel = str(path.relative_to(REPO))
        if rel.startswith((".venv", "build", "tests/micropython/node_modules")):
            continue
        for name in imports_of(path):
            lib = name.split(".")[0]
            if lib in ADAPTERS and not rel.startswith(ADAPTERS[lib]):
                bad.append(f"{rel} imports {name}")
    assert not bad, "library imported outside its adapter:\n" + "\n".join(bad)


def test_drivers_do_not_reach_into_the_agent():
    bad = []
    for path in sorted((REPO / "drivers").rglob("*.py")):
        for name in imports_of(path):
            if name.startswith("agent") and name != "agent.errors":
                bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "\n".join(bad)
