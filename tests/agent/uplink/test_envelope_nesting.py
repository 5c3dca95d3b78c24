"""Regression (found while fuzzing the envelope decoder, issue 10): JSON nested deeper than
Python's recursion limit raised RecursionError out of envelope_parts and the id peek of refused commands (now _payload_id), which
ended the command loop on a stranger's message."""

import pytest

from agent.uplink.commands import _payload_id
from agent.uplink.intake import CommandIntake
from agent.uplink.signing import BadEnvelope, envelope_parts
from tests.drivers.fuzz_props import check_envelope


@pytest.mark.parametrize("raw", [b"[" * 5000, b'{"a":' * 3000, b"[" * 100000 + b"]" * 100000])
def test_deeply_nested_json_is_a_bad_envelope(raw):
    with pytest.raises(BadEnvelope, match="nested too deeply"):
        envelope_parts(raw)
    assert _payload_id(raw.decode()) is None
    check_envelope(raw)


@pytest.mark.parametrize("raw", [b"[" * 16000, b'{"payload": "' + b"[" * 12000 + b'", "sig": "'
                                 + b"ab" * 32 + b'"}'])
def test_the_live_intake_refuses_deep_nesting_and_counts_it(raw):
    # the envelope_parts fix above did not reach the path the agent runs: CommandIntake
    # parsed on its own, and peek_id read the payload of a refused command unguarded
    refused = []
    intake = CommandIntake(bytes(32), lambda payload: None,
                           lambda cid, reason: refused.append((cid, reason)))
    intake.submit(raw)
    assert len(refused) == 1 and refused[0][0] is None
    assert sum(intake.status()["rejected"].values()) == 1
