"""The architecture of docs/architecture.md, enforced by walking every import.

- the MicroPython-compatible packages import only what MicroPython has;
- a third-party library is imported only inside its adapter folder;
- nothing in drivers/ or edge_rules/ reaches into the agent;
- no two folders import each other, directly or around a loop.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("agent", "drivers", "edge_rules")

# the folders of the product, one job each (docs/architecture.md); a new folder is added here
FOLDERS = {
    "agent/core", "agent/anomaly", "agent/config", "agent/store", "agent/uplink", "agent/services",
    "agent/local", "agent/platform", "agent/demo", "agent/cli", "agent/provision",
    "drivers/modbus", "drivers/serial", "drivers/sim", "edge_rules",
    "agent/sparkplug", "agent/fleet",
    "agent/talq",
}

# what a MicroPython-compatible package may import (top-level names or dotted prefixes)
ALLOWED = {
    "edge_rules": {"edge_rules", "math", "re", "time", "micropython"},
    # heapq: the scheduler's pick (agent/core/due.py); MicroPython has it (tests/test_micropython.py)
    "agent/core": {"agent.core", "drivers.errors", "edge_rules", "asyncio", "heapq", "random",
                   "time", "micropython"},
}

# third-party libraries (and sqlite3) live at the edges: only these paths may import them
ADAPTERS = {
    "pymodbus": ("drivers/sim/",),
    "serial": ("drivers/serial/",),
    "paho": ("agent/uplink/", "agent/demo/"),
    "sqlite3": ("agent/store/",),
    # the fault watch hands poll values to the detectors as arrays
    "numpy": ("agent/anomaly/", "agent/services/watch.py"),
    "pydantic": ("agent/config/", "agent/uplink/commands.py", "drivers/modbus/profile.py"),
    "yaml": ("agent/config/", "drivers/modbus/profile.py"),
    "click": ("agent/cli/",),
    "aiohttp": ("agent/local/", "agent/talq/"),
    "prometheus_client": ("agent/local/",),
    # provisioning: X.509 for the gateways' client certificates, comment-keeping YAML edits
    "cryptography": ("agent/provision/",),
    "ruamel": ("agent/provision/",),
    # Sparkplug B: Tahu's protobuf payloads and the edge node's own MQTT session
    "google": ("agent/sparkplug/",),
}
ADAPTERS["paho"] += ("agent/sparkplug/",)     # the Sparkplug session is a client of its own
# the city's side (agent/fleet/, docs/fleet.md): PostgreSQL, its own MQTT client, CLI and HTTP
ADAPTERS["asyncpg"] = ("agent/fleet/db.py", "agent/fleet/writer.py", "agent/fleet/partitions.py",
                       "agent/fleet/registry.py", "agent/fleet/complaints.py", "agent/fleet/reports.py",
                       "agent/fleet/commands.py",
                       "agent/fleet/picture.py")
ADAPTERS["paho"] += ("agent/fleet/mqtt.py", "agent/fleet/command_link.py")
ADAPTERS["orjson"] = ("agent/fleet/decode.py",)
ADAPTERS["click"] += ("agent/fleet/cli.py",)
ADAPTERS["click"] += ("agent/fleet/cli_serve.py", "agent/fleet/cli_command.py")
ADAPTERS["aiohttp"] += ("agent/fleet/http.py",)
ANYWHERE = ("tests/", "bench/")

# how far each lower layer may reach (dotted prefixes of our own packages)
OWN_IMPORTS = {
    "drivers": {"drivers"},
    "edge_rules": {"edge_rules"},
    # the city's side takes the contract (topic rules, command signing), never the agent
    "agent/fleet": {"agent.fleet", "agent.config.topics", "agent.uplink.signing", "drivers.errors"},
}


def product_files():
    for top in PRODUCT:
        yield from sorted((REPO / top).rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """Every module name imported anywhere in a file (also inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                names.add(node.module)
    return names


def _allowed(name: str, allowed) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_every_folder_is_listed_and_exists():
    found = {str(p.parent.relative_to(REPO)) for p in product_files()
             if p.name == "__init__.py" and p.parent.relative_to(REPO).parts[0] in PRODUCT
             and len(p.parent.relative_to(REPO).parts) == 2}
    found.add("edge_rules")
    assert found == FOLDERS, ("folders on disk and in docs/architecture.md differ: "
                              f"not listed {sorted(found - FOLDERS)}, missing {sorted(FOLDERS - found)}")


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_micropython_packages_import_only_what_they_may(package):
    bad = [f"{rel(path)} imports {name}"
           for path in sorted((REPO / package).rglob("*.py"))
           for name in imports_of(path) if not _allowed(name, ALLOWED[package])]
    assert not bad, "layer violation:\n" + "\n".join(bad)


def test_libraries_are_imported_only_by_their_adapters():
    bad = []
    for path in product_files():
        for name in imports_of(path):
            lib = name.split(".")[0]
            if lib in ADAPTERS and not rel(path).startswith(ADAPTERS[lib]):
                bad.append(f"{rel(path)} imports {name} (only {', '.join(ADAPTERS[lib])} may)")
    assert not bad, "library imported outside its adapter:\n" + "\n".join(bad)


def test_the_adapter_list_names_real_paths():
    missing = [p for paths in ADAPTERS.values() for p in paths if not (REPO / p).exists()
               and not p.startswith("agent/local/")]   # the console's libraries arrive with it
    assert not missing, f"ADAPTERS names paths that do not exist: {missing}"


@pytest.mark.parametrize("top", sorted(OWN_IMPORTS))
def test_lower_layers_do_not_reach_up(top):
    ours = ("agent", "drivers", "edge_rules")
    bad = [f"{rel(path)} imports {name}"
           for path in sorted((REPO / top).rglob("*.py"))
           for name in imports_of(path)
           if name.split(".")[0] in ours and not _allowed(name, OWN_IMPORTS[top])]
    assert not bad, "\n".join(bad)


def unit_of(module: str) -> str | None:
    """The folder a module belongs to, or the module itself at the top of agent/ or drivers/."""
    parts = module.split(".")
    if parts[0] not in PRODUCT:
        return None
    if parts[0] == "edge_rules":
        return "edge_rules"
    if len(parts) >= 2 and "/".join(parts[:2]) in FOLDERS:
        return ".".join(parts[:2])
    return ".".join(parts[:2]) if len(parts) >= 2 else parts[0]


def unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in product_files():
        if path.name == "__init__.py" and len(path.relative_to(REPO).parts) == 2:
            continue    # a top package's docstring-only __init__
        src = unit_of(".".join(path.relative_to(REPO).with_suffix("").parts))
        for name in imports_of(path):
            dst = unit_of(name)
            if src and dst and dst != src:
                graph.setdefault(src, set()).add(dst)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop between units, as a path that returns to its start, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_sees_a_loop():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_no_import_cycle_between_folders():
    cycle = find_cycle(unit_graph())
    assert cycle is None, "import cycle between folders: " + " -> ".join(cycle)
