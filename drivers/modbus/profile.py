"""Device profiles: YAML register maps, validated once at load.

Found along a search path, first match wins: the config's `profiles:` folders, then
$LENTERA_PROFILE_PATH (':'-separated), then /etc/lentera/profiles/ (the installer's own
devices), then the shipped ones in drivers/profiles/.
"""

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from drivers.errors import ProfileError
from drivers.modbus.codec import register_count

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"
USER_DIR = Path("/etc/lentera/profiles")
PATH_ENV = "LENTERA_PROFILE_PATH"
_config_dirs: tuple = ()       # the running config's `profiles:` folders (set_config_dirs)


class Point(BaseModel):
    """One named value of a device: where it lives and how to decode it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    table: Literal["holding", "input"]
    address: int
    type: Literal["int16", "uint16", "int32", "uint32", "float32"]
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    unit: str = ""
    access: Literal["r", "rw"] = "r"
    min: float | None = None
    max: float | None = None
    description: str = ""

    @property
    def count(self) -> int:
        """Registers the point occupies."""
        return register_count(self.type)

    @model_validator(mode="after")
    def _check_address(self):
        if not 0 <= self.address <= 65535 - self.count + 1:
            raise ValueError(f"address {self.address} is outside 0..65535 "
                             "(profiles use zero-based protocol addresses, not 30001/40001)")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self


class Profile(BaseModel):
    """A device model's register map."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    description: str = ""
    kind: Literal["streetlight", "meter", "lux-sensor", "sensor", "other"] = "other"
    byte_order: Literal["big"] = "big"
    points: tuple[Point, ...]
    probe: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_points(self):
        names = [p.name for p in self.points]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate point names: {', '.join(dupes)}")
        used: dict[tuple[str, int], str] = {}
        for p in self.points:
            for reg in range(p.address, p.address + p.count):
                other = used.setdefault((p.table, reg), p.name)
                if other != p.name:
                    raise ValueError(f"points {other} and {p.name} overlap at "
                                     f"{p.table} register {reg}")
        unknown = [n for n in self.probe if n not in names]
        if unknown:
            raise ValueError(f"probe names unknown point(s): {', '.join(unknown)}")
        return self

    def point(self, name: str) -> Point:
        """The point called name; KeyError if the profile has none."""
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)


def set_config_dirs(dirs) -> None:
    """The config's `profiles:` folders, searched first (absolute paths)."""
    global _config_dirs
    _config_dirs = tuple(Path(d) for d in dirs)
    load_profile.cache_clear()


def search_path() -> list[Path]:
    """Folders searched for profiles, first match wins."""
    env = [Path(p) for p in os.environ.get(PATH_ENV, "").split(":") if p]
    return [*_config_dirs, *env, USER_DIR, PROFILE_DIR]


def find_profiles() -> dict[str, Path]:
    """Every profile name on the search path and the file that provides it."""
    found: dict[str, Path] = {}
    for folder in search_path():
        try:
            files = sorted(folder.glob("*.yaml"))
        except OSError:
            continue
        for path in files:
            found.setdefault(path.stem, path)
    return found


def shipped(path: Path) -> bool:
    """True for a profile that ships with Lentera (not the installer's own)."""
    return path.parent == PROFILE_DIR


def available_profiles() -> list[str]:
    """Names of every profile on the search path."""
    return sorted(find_profiles())


def _line_of(text: str, loc: tuple) -> int | None:
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and 0 <= part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def _loc_text(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_profile(text: str, source: str) -> Profile:
    """Parse and validate a profile's YAML text; ProfileError names the source and every key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ProfileError(source, f"not valid YAML{where}: {getattr(exc, 'problem', exc)}") \
            from exc
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        name = Path(source).name
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _line_of(text, loc)
            msg = "unknown key" if err["type"] == "extra_forbidden" else \
                err["msg"].removeprefix("Value error, ")
            problems.append(f"{_loc_text(loc) or '(top)'}: {msg}"
                            + (f" ({name} line {line})" if line else ""))
        error = ProfileError(source, "; ".join(problems))
        error.problems = problems
        raise error from exc


@lru_cache(maxsize=None)
def load_profile(name: str) -> Profile:
    """Load a profile by name (e.g. 'streetlight-generic') from the search path."""
    path = find_profiles().get(name)
    if path is None:
        raise ProfileError("profile", f"unknown profile {name!r}; known profiles: "
                           f"{', '.join(available_profiles())} (folders: "
                           f"{', '.join(str(d) for d in search_path())})")
    return parse_profile(path.read_text(encoding="utf-8"), str(path))


SKELETON = """\
# A device profile: one device model's register map (docs/profiles.md).
# Check it with:  lentera profiles check THIS_FILE
# Install it as:  /etc/lentera/profiles/<model>.yaml  (the file name is the profile's name)
model: {model}                 # = the file name without .yaml; devices name it as profile:
description: {description}
kind: other                    # streetlight, meter, lux-sensor, sensor or other
byte_order: big                # Modbus words are big-endian
probe: [status]                # points `lentera scan` reads to recognise the device
points:
  # name: how telemetry calls it; table: holding (read/write) or input (read only)
  # address: ZERO-based protocol address (register 40001 in a manual is address 0)
  # type: int16, uint16, int32, uint32 or float32 (32-bit: two registers)
  # word_order: big (high word first) or little; value = raw * scale, in unit
  - {{name: status, table: input, address: 0, type: uint16, description: device status word}}
  - {{name: power, table: input, address: 1, type: uint16, scale: 0.1, unit: W}}
  - {{name: energy, table: input, address: 2, type: uint32, word_order: big, unit: Wh}}
  # a writable point: access rw, and its allowed range
  - {{name: dim, table: holding, address: 0, type: uint16, access: rw, min: 0, max: 100, unit: "%"}}
"""


def skeleton(model: str, description: str = "describe the device model here") -> str:
    """A commented profile to start from (`lentera profiles new`); it validates as is."""
    return SKELETON.format(model=model, description=description)
