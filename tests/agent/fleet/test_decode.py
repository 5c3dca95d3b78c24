"""The decoder of gateway messages: the contract's good messages pass, anything else is a
BadMessage with a reason (fuzzed: random bytes, random topics, mutated good messages)."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from agent.fleet.decode import MAX_PAYLOAD, Ack, BadMessage, Event, Status, Telemetry, decode

GOOD_TELEMETRY = {"ts": 1767225600123, "seq": 48213, "quality": "good",
                  "values": {"switch": 1, "dim": 100, "lamp_state": 1, "power": 90.6,
                             "energy": 31234}}
GOOD_EVENT = {"ts": 1795881120000, "seq": 48977, "event": "lampFailure", "state": "raised",
              "score": 0.77, "evidence": {"power": 0.3}, "first_seen_ts": 1795880880000}
GOOD_ACK = {"ts": 1767225000456, "seq": 48290, "id": "c-0001", "result": "done",
            "reason": None, "details": {"devices": ["L-001"]}}


def test_the_documented_examples_decode():
    t = decode("city/lighting/gw-7/telemetry/L-001", json.dumps(GOOD_TELEMETRY).encode())
    assert isinstance(t, Telemetry) and (t.gateway, t.device, t.seq, t.power, t.lamp_state) \
        == ("gw-7", "L-001", 48213, 90.6, 1)
    e = decode("city/lighting/gw-7/events/L-001", json.dumps(GOOD_EVENT).encode())
    assert isinstance(e, Event) and (e.kind, e.state) == ("lampFailure", "raised")
    a = decode("city/lighting/gw-7/ack", json.dumps(GOOD_ACK).encode())
    assert isinstance(a, Ack) and (a.command_id, a.result) == ("c-0001", "done")
    s = decode("city/lighting/gw-7/status", b'{"state":"online","outbox":{"dropped":5}}')
    assert isinstance(s, Status) and s.outbox_dropped == 5


@pytest.mark.parametrize("topic, payload, reason", [
    ("city/lighting/gw-7/telemetry/L-1", b"x" * (MAX_PAYLOAD + 1), "oversized"),
    ("city/lighting/gw-7/telemetry/L-1", b"{not json", "not_json"),
    ("city/lighting/gw-7/telemetry/L-1", b"[1, 2]", "not_object"),
    ("city/lighting/gw-7/telemetry/L-1", b'{"ts": NaN, "seq": 1}', "not_json"),
    ("city/lighting/gw-7/telemetry/L-1", b'{"ts": 1767225600123, "seq": -1}', "bad_seq"),
    ("city/lighting/gw-7/telemetry/L-1", b'{"ts": 1767225600123, "seq": true}', "bad_seq"),
    ("city/lighting/gw-7/telemetry/L-1", b'{"ts": 99, "seq": 1}', "bad_ts"),
    ("city/lighting/gw-7/telemetry/L-1", b'{"ts":1767225600123,"seq":1,"values":[]}',
     "bad_values"),
    ("city/lighting/gw-7/events/L-1", b'{"ts":1767225600123,"seq":1,"event":"a\\u0000b"}',
     "nul_in_text"),
    ("city/lighting/gw-7/events/L-1", b'{"ts":1767225600123,"seq":1,"event":"\\ud800"}',
     "bad_unicode"),
    ("city/lighting/gw-7/events/L-1", b'{"ts":1767225600123,"seq":1,"event":"x","evidence":{"p":1e999}}',
     "not_finite"),
    ("city/lighting/gw-7/telemetry", b"{}", "bad_topic"),
    ("city/lighting/gw-7/whatever/L-1", b"{}", "bad_topic"),
    ("other/prefix/gw-7/ack", b"{}", "bad_topic"),
    ("city/lighting/" + "g" * 65 + "/ack", b"{}", "bad_topic"),
    ("city/lighting/gw-7/ack", b'{"ts":1767225600123,"seq":1}', "bad_ack"),
])
def test_each_kind_of_bad_message_has_its_reason(topic, payload, reason):
    with pytest.raises(BadMessage) as err:
        decode(topic, payload)
    assert err.value.reason == reason


TOPICS = st.sampled_from(["city/lighting/gw-1/telemetry/L-1", "city/lighting/gw-1/events/x",
                          "city/lighting/gw-1/ack", "city/lighting/gw-1/status"])


@settings(max_examples=400, deadline=None)
@given(topic=st.one_of(TOPICS, st.text(max_size=80)), payload=st.binary(max_size=300))
def test_random_bytes_and_topics_give_only_bad_message(topic, payload):
    try:
        decode(topic, payload)
    except BadMessage:
        pass


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(topic=TOPICS, base=st.sampled_from([GOOD_TELEMETRY, GOOD_EVENT, GOOD_ACK]),
       key=st.sampled_from(["ts", "seq", "values", "quality", "event", "state", "id",
                            "result", "reason", "outbox", "evidence", "extra"]), value=JSON)
def test_mutated_good_messages_decode_to_clean_records_or_bad_message(topic, base, key, value):
    body = dict(base, **{key: value})
    try:
        record = decode(topic, json.dumps(body).encode())
    except BadMessage:
        return
    # whatever passes must be storable: valid UTF-8, no NUL, JSON text PostgreSQL accepts
    for text in (getattr(record, name) for name in ("values", "body") if hasattr(record, name)):
        assert "\x00" not in text and "\\u0000" not in text
        json.loads(text)
        text.encode("utf-8")


SCHEMAS = Path(__file__).resolve().parents[3] / "docs" / "schema"
TELEMETRY_SCHEMA = Draft202012Validator(json.loads((SCHEMAS / "telemetry.schema.json").read_text()))
ACK_SCHEMA = Draft202012Validator(json.loads((SCHEMAS / "ack.schema.json").read_text()))


@pytest.mark.parametrize("change", [
    {"extra": 1}, {"quality": "excellent"}, {"values": {"power": "90"}},
    {"values": {"switch": True}}, {"values": {"p": None}}, {"values": {"p": [1]}},
    {"seq": 0}, {"age_s": "3"}, {"error": 5},
])
def test_telemetry_the_schema_refuses_is_refused(change):
    body = dict(GOOD_TELEMETRY, **change)
    assert not TELEMETRY_SCHEMA.is_valid(body)
    with pytest.raises(BadMessage):
        decode("city/lighting/gw-7/telemetry/L-1", json.dumps(body).encode())


@settings(max_examples=400, deadline=None)
@given(topic=st.sampled_from(["city/lighting/gw-1/telemetry/L-1", "city/lighting/gw-1/ack"]),
       key=st.sampled_from(["ts", "seq", "values", "quality", "age_s", "error", "id",
                            "result", "reason", "details", "extra"]),
       value=JSON | st.dictionaries(st.text(max_size=8), JSON, max_size=4))
def test_what_passes_is_valid_against_the_contract_schema(topic, key, value):
    ack = topic.endswith("/ack")
    body = dict(GOOD_ACK if ack else GOOD_TELEMETRY, **{key: value})
    try:
        decode(topic, json.dumps(body).encode())
    except BadMessage:
        return
    (ACK_SCHEMA if ack else TELEMETRY_SCHEMA).validate(body)


EVENT_SCHEMA = Draft202012Validator(json.loads((SCHEMAS / "event.schema.json").read_text()))
STATUS_SCHEMA = Draft202012Validator(json.loads((SCHEMAS / "status.schema.json").read_text()))
GOOD_STATUS = {"state": "online", "gateway": "gw-7", "ts": 1795881120000, "uptime_s": 3600,
               "buses": {}, "outbox": {"backlog": 0, "dropped": 5, "error": None}}
EVENT_KEYS = sorted(json.loads((SCHEMAS / "event.schema.json").read_text())["properties"])
STATUS_KEYS = sorted(json.loads((SCHEMAS / "status.schema.json").read_text())["properties"])


@pytest.mark.parametrize("kind, change, reason", [
    ("events", {"score": 1.5}, "bad_event"), ("events", {"score": "high"}, "bad_event"),
    ("events", {"state": None}, "bad_event"), ("events", {"evidence": [1]}, "bad_event"),
    ("events", {"source": "cms"}, "bad_event"), ("events", {"severity": "fatal"}, "bad_event"),
    ("events", {"switch": 1}, "bad_event"), ("events", {"dim": True}, "bad_event"),
    ("events", {"first_seen_ts": 1.5}, "bad_event"), ("events", {"max_mb": "5"}, "bad_event"),
    ("status", {"state": "sleeping"}, "bad_state"), ("status", {"uptime_s": "1 h"}, "bad_status"),
    ("status", {"buses": []}, "bad_status"), ("status", {"outbox": "full"}, "bad_status"),
    ("status", {"outbox": {"error": 3}}, "bad_status"), ("status", {"version": 2}, "bad_status"),
])
def test_events_and_statuses_the_schema_refuses_are_refused(kind, change, reason):
    base, validator = (GOOD_EVENT, EVENT_SCHEMA) if kind == "events" else (GOOD_STATUS, STATUS_SCHEMA)
    body = dict(base, **change)
    assert not validator.is_valid(body)
    topic = "city/lighting/gw-7/" + ("events/L-1" if kind == "events" else "status")
    with pytest.raises(BadMessage) as err:
        decode(topic, json.dumps(body).encode())
    assert err.value.reason == reason


@settings(max_examples=600, deadline=None)
@given(status=st.booleans(), key=st.sampled_from(EVENT_KEYS + STATUS_KEYS + ["extra"]),
       value=JSON | st.dictionaries(st.sampled_from(["backlog", "error", "dropped", "x"]), JSON,
                                    max_size=3))
def test_what_passes_is_valid_against_the_event_and_status_schemas(status, key, value):
    body = dict(GOOD_STATUS if status else GOOD_EVENT, **{key: value})
    topic = "city/lighting/gw-1/status" if status else "city/lighting/gw-1/events/L-1"
    try:
        decode(topic, json.dumps(body).encode())
    except BadMessage:
        return
    (STATUS_SCHEMA if status else EVENT_SCHEMA).validate(body)


def test_a_schema_integer_written_as_5_0_is_an_integer():
    body = dict(GOOD_EVENT, first_seen_ts=1795880880000.0, dim=40.0)
    assert EVENT_SCHEMA.is_valid(body)
    assert isinstance(decode("city/lighting/gw-7/events/L-1", json.dumps(body).encode()), Event)
