"""The official TALQ 2.7.1 OAS files (shared/standards/talq-2.7.1 beside the repository) as
JSON Schema validators: the responses are checked against the consortium's own schemas."""

import json
from functools import lru_cache
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

REPO = Path(__file__).resolve().parents[3]
DATA_MODEL = "talq-data-model-2-7-1-online.json"
GATEWAY_API = "talq-api-gateway-2-7-1-online.json"


def standard_dir() -> Path:
    """shared/standards/talq-2.7.1 next to the repository or one of its parents."""
    for parent in REPO.parents:
        candidate = parent / "shared" / "standards" / "talq-2.7.1"
        if (candidate / GATEWAY_API).exists():
            return candidate
    pytest.skip("the TALQ 2.7.1 OAS files (shared/standards/talq-2.7.1) are not beside the repo")


@lru_cache(maxsize=None)
def document(name: str) -> dict:
    return json.loads((standard_dir() / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def registry() -> Registry:
    model = Resource.from_contents(document(DATA_MODEL), default_specification=DRAFT4)
    return Registry().with_resource(f"urn:talq:{DATA_MODEL}", model)


def validate(body, schema_name: str) -> None:
    """Raise jsonschema.ValidationError unless `body` is a valid data-model `schema_name`."""
    schema = {"$ref": f"urn:talq:{DATA_MODEL}#/components/schemas/{schema_name}"}
    jsonschema.Draft4Validator(schema, registry=registry()).validate(body)


def lighting_mandatory(function_type: str) -> set[str]:
    """Attributes the lighting profile makes mandatory for a gateway in a function type."""
    body = document(DATA_MODEL)["components"]["schemas"][function_type]["allOf"][1]
    out = set()
    for name, prop in body["properties"].items():
        marks = prop.get("allOf", [{}, {}])[1].get("x-talq-profiles", [{}])[0]
        if marks.get("lighting", {}).get("gw") == "M":
            out.add(name)
    return out


def paths() -> dict:
    return document(GATEWAY_API)["paths"]
