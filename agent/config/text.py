"""Config text: YAML in (YAML 1.2 booleans), problems out as `path: message (file line N)`."""

import re

import yaml

from agent.errors import ConfigError


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):   # libyaml when present
    """YAML 1.2 booleans: only true/false. YAML 1.1 would read `on:`/`off:` keys as booleans."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def load_yaml(text: str):
    """Parse YAML text with YAML 1.2 booleans."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader




def format_path(loc) -> str:
    """('devices', 3, 'unit') -> 'devices[3].unit'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def clean_loc(loc: tuple) -> tuple:
    """A pydantic error location as the user wrote it (without union tags)."""
    # pydantic adds the union member's tag ('modbus-tcp') to the path; the user never wrote it
    return tuple(p for p in loc if p not in ("modbus-tcp", "modbus-rtu"))


def line_of(node, loc) -> int | None:
    """Line (1-based) of the YAML node at loc, or of its nearest existing parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = key if value is None else value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def pydantic_message(err: dict) -> str:
    """pydantic's message for one error, phrased for an operator."""
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return "unknown key (check spelling; see docs/config.md for the allowed keys)"
    if err["type"] == "missing":
        return "required key is missing"
    return msg


class ConfigProblems(ConfigError):
    """Every problem found in a config file, each with path and line."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        super().__init__(source, f"{len(problems)} problem(s):\n  " + "\n  ".join(problems))


def read_yaml(text: str, source: str) -> dict:
    """Parse config text into a mapping; ConfigProblems (with the line) if it is not one."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigProblems(source, [f"not valid YAML{where}: "
                                      f"{getattr(exc, 'problem', exc)}"]) from exc
    except ValueError as exc:          # a timestamp-like scalar that is no date (fuzzing)
        raise ConfigProblems(source, [f"not valid YAML: {exc} (a date such as 2026-28-17 "
                                      "that is not a calendar date? dates are YYYY-MM-DD)"]
                             ) from exc
    if not isinstance(data, dict):
        raise ConfigProblems(source, ["the file must be a mapping with keys gateway, "
                                      "uplink, buses, devices"])
    return data


def compose(text: str):
    """The YAML node tree of config text (line numbers); built only for a report: it is large."""
    return yaml.compose(text, Loader=_Loader)


def with_lines(text: str, source: str, problems, root=None) -> list[str]:
    """'path: message (file line N)'."""
    root = compose(text) if root is None else root
    out = []
    for loc, msg in problems:
        line = line_of(root, loc)
        entry = f"{format_path(loc)}: {msg}" + (f" ({source} line {line})" if line else "")
        if entry not in out:
            out.append(entry)
    return out


def split_path(path: str) -> tuple:
    """'rules.r3.then[0].group' -> ('rules', 'r3', 'then', 0, 'group')."""
    out: list = []
    for part in path.replace("]", "").split("."):
        name, *indexes = part.split("[")
        if name and name != "config":
            out.append(name)
        out.extend(int(i) for i in indexes if i.isdigit())
    return tuple(out)
