"""One error tree: every exception class the product defines derives from one of three roots.

`LenteraError` (drivers/errors.py, built on by agent/errors.py) for the agent and the field, and
`EdgeRulesError` for the pure core, which imports nothing of ours (docs/architecture.md).
"""

import ast
import importlib
from pathlib import Path

from drivers.errors import LenteraError
from edge_rules.errors import EdgeRulesError

REPO = Path(__file__).resolve().parents[1]


def defined_exceptions():
    """(module, class name) of every class in the product whose name says it is an error."""
    for top in ("agent", "drivers", "edge_rules"):
        for path in sorted((REPO / top).rglob("*.py")):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.ClassDef):
                    yield module, node.name


def test_every_exception_belongs_to_the_tree():
    outside = []
    for module, name in defined_exceptions():
        if module.startswith(("agent.demo", "drivers.sim")):
            continue                        # test peers and the demo, not the product's errors
        cls = getattr(importlib.import_module(module), name)
        if isinstance(cls, type) and issubclass(cls, BaseException) \
                and not issubclass(cls, (LenteraError, EdgeRulesError)):
            outside.append(f"{module}.{name}")
    assert not outside, "exceptions outside the error tree: " + ", ".join(outside)


def test_the_walk_finds_the_errors_the_issue_named():
    names = {name for _, name in defined_exceptions()}
    assert {"Refused", "BadEnvelope", "ControlError", "PathError", "RuleConfigError", "ExprError",
            "DeviceError", "ConfigError", "UplinkError"} <= names
