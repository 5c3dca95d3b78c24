"""The backend's documents name every event kind the agent can send.

A kind added in code but not in docs/mqtt.md or the event schema is one the city's
backend cannot know to handle; this test finds it from the source.
"""

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EMIT = re.compile(r"emit_event\(\s*[^,()]+,\s*\"([A-Za-z_]+)\"")


def emitted_kinds() -> set[str]:
    kinds = set()
    for path in (REPO / "agent").rglob("*.py"):
        kinds.update(EMIT.findall(path.read_text(encoding="utf-8")))
    return kinds


def test_the_source_scan_finds_the_kinds():
    # guards the regex: a scan that finds nothing would make the next test pass vacuously
    assert {"outbox_dropped", "state_file_corrupt", "clock_trust"} <= emitted_kinds()


def test_every_emitted_event_kind_is_documented():
    table = (REPO / "docs" / "mqtt.md").read_text(encoding="utf-8")
    schema = json.loads((REPO / "docs" / "schema" / "event.schema.json").read_text())
    listed = schema["properties"]["event"]["description"]
    missing_doc = sorted(k for k in emitted_kinds() if f"`{k}`" not in table)
    missing_schema = sorted(k for k in emitted_kinds() if not re.search(rf"\b{k}\b", listed))
    assert not missing_doc, f"event kinds missing from docs/mqtt.md's table: {missing_doc}"
    assert not missing_schema, f"event kinds missing from event.schema.json: {missing_schema}"
