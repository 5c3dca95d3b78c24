"""The fleet CSV and the template: one checked gateway.yaml text per row, comments kept.

Columns: id, site, lat, lon (required); timezone, broker, cert_file, key_file (optional;
cert_file/key_file name pre-issued files, relative to the CSV). Every problem names the CSV
row (its line number, the header being line 1) and column.
"""

import csv
import io
from pathlib import Path

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap

from agent.config.loading import parse_config
from agent.config.text import ConfigProblems
from agent.provision.errors import ProvisionError

REQUIRED = ("id", "site", "lat", "lon")
OPTIONAL = ("timezone", "broker", "cert_file", "key_file")
MAX_ROWS = 10000
# key path in gateway.yaml (as check-config prints it) -> the CSV column it came from
COLUMN_OF = {"gateway.id": "id", "gateway.site": "site", "gateway.location.lat": "lat",
             "gateway.location.lon": "lon", "gateway.location": "lat", "gateway.timezone":
             "timezone", "uplink.mqtt.url": "broker"}


class Row:
    """One gateway of the fleet: its CSV line and values."""

    def __init__(self, line: int, values: dict):
        self.line = line
        self.values = values
        self.problems: list[str] = []      # found while reading (extra fields, duplicate id)

    @property
    def gateway_id(self) -> str:
        """The id column as written."""
        return self.values.get("id", "")

    def where(self, column: str) -> str:
        """'fleet.csv row 7 (tgr-gw-0007), column lat' style prefix."""
        return f"row {self.line} ({self.gateway_id or 'no id'}), column {column}"


def read_fleet(path: Path) -> list[Row]:
    """The fleet's rows; ProvisionError for a bad header, an empty or too long file.

    A row's own problems (a duplicate id, extra fields) go into row.problems: the caller
    checks every row and reports them all together, so a duplicate masks no other bad row.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvisionError(str(path), [f"cannot read: {exc}"]) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    problems = [f"header: missing column {c}" for c in REQUIRED if c not in header]
    problems += [f"header: unknown column {c!r} (known: {', '.join(REQUIRED + OPTIONAL)})"
                 for c in header if c not in REQUIRED + OPTIONAL]
    if problems:
        raise ProvisionError(str(path), problems)
    rows, seen = [], {}
    for record in reader:
        values = {k.strip(): (v or "").strip() for k, v in record.items() if k}
        if not any(values.values()):
            continue                        # blank line
        row = Row(reader.line_num, values)
        if None in record:
            row.problems.append(f"row {row.line}: more fields than the header's {len(header)}")
        if row.gateway_id in seen:
            row.problems.append(f"{row.where('id')}: duplicate id, also on row "
                                f"{seen[row.gateway_id]}")
        seen.setdefault(row.gateway_id, row.line)
        rows.append(row)
    if len(rows) > MAX_ROWS:
        problems.append(f"{len(rows)} rows: at most {MAX_ROWS} per run")
    if not rows and not problems:
        problems.append("no gateways: the file has a header but no rows")
    if problems:
        raise ProvisionError(str(path), problems)
    return rows


class Template:
    """The gateway.yaml every bundle starts from, edited per row with its comments kept."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProvisionError(str(path), [f"cannot read: {exc.strerror}"]) from None
        self._yaml = YAML(typ="rt")          # round-trip: comments, order and flow style kept
        self._yaml.preserve_quotes = True
        self._yaml.width = 4096
        self._yaml.indent(mapping=2, sequence=4, offset=2)   # "  - item" under its key
        try:
            if not isinstance(self._yaml.load(self.text), dict):
                raise ProvisionError(str(path), ["the template must be a gateway.yaml mapping"])
        except YAMLError as exc:
            raise ProvisionError(str(path), [f"not valid YAML: {exc}"]) from None

    def render(self, row: Row, ca_file: bool) -> str:
        """The row's gateway.yaml text: identity, location, broker, key and TLS file names."""
        doc = self._yaml.load(self.text)
        v = row.values
        _set(doc, ("gateway", "id"), v["id"])
        _set(doc, ("gateway", "site"), v["site"])
        _set(doc, ("gateway", "location", "lat"), _number(v["lat"]))
        _set(doc, ("gateway", "location", "lon"), _number(v["lon"]))
        if v.get("timezone"):
            _set(doc, ("gateway", "timezone"), v["timezone"])
        if v.get("broker"):
            _set(doc, ("uplink", "mqtt", "url"), v["broker"])
        _set(doc, ("commands", "key_file"), "cmd.key")
        tls = [("ca_file", "ca.crt")] if ca_file else []
        for key, name in tls + [("cert_file", "client.crt"), ("key_file", "client.key")]:
            _set(doc, ("uplink", "mqtt", "tls", key), name)
        out = io.StringIO()
        self._yaml.dump(doc, out)
        return out.getvalue()


def _set(doc, path: tuple, value) -> None:
    node = doc
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = CommentedMap()
        node = node[key]
    node[path[-1]] = value


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text                         # check-config then names it (not a number)


def check_row(row: Row, text: str, base: Path) -> list[str]:
    """The row's problems, each naming its column; template problems name the template."""
    try:
        parse_config(text, "gateway.yaml", base)
    except ConfigProblems as exc:
        out = []
        for problem in exc.problems:
            path, _, message = problem.partition(": ")
            message = message.rsplit(" (gateway.yaml line", 1)[0]
            column = COLUMN_OF.get(path)
            out.append(f"{row.where(column)}: {message}" if column else
                       f"row {row.line} ({row.gateway_id}): the template gives {problem}")
        return out
    return []
