"""The command gate: bounded work and bounded answers for whatever arrives on the cmd topic."""

import json

from hypothesis import given, settings, strategies as st

from agent.uplink.intake import (ID_ECHO_MAX, MAX_MESSAGE_BYTES, REFUSAL_BURST, CommandIntake)
from agent.uplink.signing import seal, sign

KEY = bytes(range(32))


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _gate(key=KEY):
    accepted, refused, clock = [], [], Clock()
    gate = CommandIntake(key, accepted.append, lambda cid, why: refused.append((cid, why)),
                         clock)
    return gate, accepted, refused, clock


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=3000),
                 st.builds(lambda p, s: json.dumps({"payload": p, "sig": s}).encode(),
                           st.text(max_size=500), st.text(max_size=80)),
                 st.builds(lambda v: json.dumps({"payload": json.dumps(v), "sig": "0" * 64})
                           .encode(), st.recursive(st.none() | st.integers() | st.text(),
                                                   lambda c: st.lists(c) | st.dictionaries(
                                                       st.text(), c), max_leaves=20))))
def test_nothing_unsigned_gets_through_and_nothing_escapes(raw):
    gate, accepted, refused, _ = _gate()
    gate.submit(raw)
    assert accepted == []
    assert sum(gate.rejected.values()) == 1
    assert all(cid is None or len(cid) <= ID_ECHO_MAX for cid, _ in refused)


def test_a_signed_envelope_is_passed_on_unchanged():
    gate, accepted, refused, _ = _gate()
    raw = seal(KEY, {"id": "c-1", "kind": "snapshot"})
    gate.submit(raw)
    assert accepted == [json.loads(raw)["payload"]] and refused == []


def test_oversized_is_refused_unread_and_answers_are_rate_limited():
    gate, accepted, refused, clock = _gate()
    huge = b'{"payload": "' + b"{" * MAX_MESSAGE_BYTES + b'", "sig": ""}'
    for _ in range(1000):
        gate.submit(huge)
    assert gate.rejected["oversized"] == 1000
    assert len(refused) == REFUSAL_BURST and gate.unanswered == 1000 - REFUSAL_BURST
    assert all(cid is None and "16384 bytes" in why for cid, why in refused)
    clock.now = 5.0                                  # 1 a second afterwards
    for _ in range(100):
        gate.submit(huge)
    assert len(refused) == REFUSAL_BURST + 5


def test_forged_id_is_echoed_at_most_128_characters_and_reasons_are_counted():
    gate, accepted, refused, _ = _gate()
    payload = json.dumps({"id": "F" * 1_000})
    gate.submit(json.dumps({"payload": payload, "sig": sign(bytes(32), payload)}).encode())
    gate.submit(b"\xff\xfe not json")
    gate.submit(json.dumps({"payload": payload, "sig": "xyz"}).encode())
    assert refused[0] == ("F" * ID_ECHO_MAX, "signature does not match (wrong key, or payload "
                                              "altered)")
    assert gate.status() == {"rejected": {"oversized": 0, "not_json": 1, "bad_envelope": 1,
                                          "bad_signature": 1, "disabled": 0},
                             "unanswered": 0}


def test_without_a_key_everything_is_refused_as_disabled():
    gate, accepted, refused, _ = _gate(key=None)
    gate.submit(seal(KEY, {"id": "c-1"}))
    assert accepted == [] and gate.rejected["disabled"] == 1
    assert refused == [("c-1", "commands are disabled on this gateway: no commands.key_file")]
