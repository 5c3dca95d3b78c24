"""docs/talq.md lists every operation of the official gateway OAS, and says "implemented"
exactly for the ones the server routes."""

import re

from agent.talq.server import routes
from tests.agent.talq.oas import REPO, paths

ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)` \| (\w|-) \| ([^|]+) \|", re.M)


def shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_the_table_lists_every_oas_operation_and_what_is_implemented():
    rows = {(m, p): status.strip() for m, p, _, status in
            ROW.findall((REPO / "docs" / "talq.md").read_text(encoding="utf-8"))}
    operations = {(m.upper(), p) for p, ops in paths().items() for m in ops
                  if m in ("get", "post", "put", "patch", "delete")}
    assert len(operations) > 100
    assert set(rows) == operations
    served = {(r.method, shape(r.path)) for r in routes(None, None, None)}
    implemented = {(m, shape(p)) for (m, p), status in rows.items() if status == "implemented"}
    assert implemented == served
