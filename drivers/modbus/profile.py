"""Device profiles: YAML register maps in drivers/profiles/, validated once at load."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from drivers.errors import ProfileError
from drivers.modbus.codec import register_count

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles"


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


def available_profiles() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def parse_profile(text: str, source: str) -> Profile:
    """Parse and validate a profile's YAML text; ProfileError names the source and key."""
    try:
        data = yaml.safe_load(text)
        return Profile.model_validate(data)
    except yaml.YAMLError as exc:
        raise ProfileError(source, f"not valid YAML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ProfileError(f"{source}: {loc}", first["msg"]) from exc


@lru_cache(maxsize=None)
def load_profile(name: str) -> Profile:
    """Load a shipped profile by name (e.g. 'streetlight-generic')."""
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ProfileError("profile", f"unknown profile {name!r}; shipped profiles: "
                          f"{', '.join(available_profiles())}")
    return parse_profile(path.read_text(encoding="utf-8"), str(path))
