"""Signature scheme, published schemas and reconnect back-off: fast unit tests."""

import json
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from agent.uplink.commands import Command, CommandEnvelope
from agent.errors import ConfigError
from agent.config.keys import load_key
from agent.uplink.signing import BadEnvelope, envelope_parts, seal, sign, verify
from agent.uplink.backoff import Backoff

DOCS = Path(__file__).resolve().parents[3] / "docs"
KEY = bytes.fromhex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")


def test_worked_example_in_docs_is_what_the_code_computes():
    payload = ('{"id":"c-0001","gateway":"gw-tangerang-07","kind":"dim","target":{"group":'
               '"jl-sudirman"},"level":40,"duration_s":7200,"expires_at":1767225600000}')
    sig = sign(KEY, payload)
    text = (DOCS / "mqtt.md").read_text()
    assert payload in text and sig in text


def test_seal_verifies_and_any_change_breaks_it():
    payload, sig = envelope_parts(seal(KEY, {"id": "x", "level": 5}))
    verify(KEY, payload, sig)
    verify(KEY, payload, sig.upper())
    with pytest.raises(BadEnvelope):
        verify(KEY, payload.replace("5", "6"), sig)
    with pytest.raises(BadEnvelope):
        verify(bytes(32), payload, sig)
    with pytest.raises(BadEnvelope):
        envelope_parts(b'{"payload": {"id": "x"}, "sig": "00"}')


def test_published_command_schemas_match_the_models():
    env = json.loads((DOCS / "schema/command-envelope.schema.json").read_text())
    cmd = json.loads((DOCS / "schema/command.schema.json").read_text())
    assert env["properties"] == CommandEnvelope.model_json_schema()["properties"]
    assert cmd["$defs"] == TypeAdapter(Command).json_schema()["$defs"]


def test_short_or_unreadable_key_is_a_config_error(tmp_path):
    (tmp_path / "k").write_text("abcd\n")
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        load_key(tmp_path / "k")
    with pytest.raises(ConfigError, match="cannot read"):
        load_key(tmp_path / "missing")


def test_backoff_grows_to_its_cap_with_jitter():
    lows = [Backoff(2, 120, rand=lambda: 0.0).next() for _ in range(1)]
    b_low, b_high = Backoff(2, 120, rand=lambda: 0.0), Backoff(2, 120, rand=lambda: 1.0)
    low = [b_low.next() for _ in range(8)]
    high = [b_high.next() for _ in range(8)]
    assert lows == [1.0]
    assert high == [2, 4, 8, 16, 32, 64, 120, 120]
    assert low == [h / 2 for h in high]
    b_high.reset()
    assert b_high.next() == 2
