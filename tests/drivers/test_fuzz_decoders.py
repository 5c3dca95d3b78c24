"""Every decoder of outside bytes, fuzzed briefly with hypothesis (the long run: bench/fuzz.py).

Random bytes and, for the framers, valid frames wrapped in noise: each decoder returns
a well-formed result or raises its own documented error (tests/drivers/fuzz_props.py).
"""

import gzip
import json
import struct
import uuid
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from drivers.modbus.rtu_frame import ReplyScanner, with_crc
from tests.drivers.fuzz_talq import ALL_CHECKS as CHECKS

REPO = Path(__file__).resolve().parents[2]
SHORT = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(CHECKS))
@SHORT
@given(data=st.binary(max_size=600))
def test_random_bytes_decode_or_raise_the_documented_error(name, data):
    CHECKS[name](data)


@SHORT
@given(data=st.binary(max_size=200))
@example(data=b"")
def test_config_text_near_a_real_config_decodes_or_is_a_config_error(data):
    real = (REPO / "deploy" / "raspberrypi" / "gateway.example.yaml").read_bytes()
    cut = len(data) % max(1, len(real))
    CHECKS["config"](real[:cut] + data + real[cut:])


def _read_reply(unit: int, fc: int, registers: list) -> bytes:
    n = len(registers)
    return with_crc(bytes([unit, fc, 2 * n]) + struct.pack(f">{n}H", *registers))


@SHORT
@given(unit=st.integers(1, 247), fc=st.sampled_from([3, 4]),
       registers=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=125),
       noise=st.binary(max_size=40), tail=st.binary(max_size=10),
       step=st.integers(1, 64))
def test_a_reply_behind_noise_is_found_and_the_noise_counted(unit, fc, registers, noise,
                                                            tail, step):
    noise = bytes(b for b in noise if b != unit)      # noise that starts no frame of ours
    stream = noise + _read_reply(unit, fc, registers) + tail
    scanner = ReplyScanner(unit, fc, 2 * len(registers))
    pdu = None
    for i in range(0, len(stream), step):
        got = scanner.feed(stream[i:i + step])      # bytes after the reply: noise too
        pdu = pdu or got
    assert pdu is not None
    assert struct.unpack(f">{len(registers)}H", pdu[2:]) == tuple(registers)
    assert scanner.noise_bytes == len(noise) + len(tail)
    assert scanner.crc_errors == 0 and scanner.mismatched == 0


@SHORT
@given(unit=st.integers(1, 247), registers=st.lists(st.integers(0, 0xFFFF), min_size=1,
                                                    max_size=20),
       flip=st.integers(0, 10 ** 6), bit=st.integers(0, 7))
def test_a_damaged_reply_is_never_a_value(unit, registers, flip, bit):
    frame = bytearray(_read_reply(unit, 3, registers))
    frame[flip % len(frame)] ^= 1 << bit
    scanner = ReplyScanner(unit, 3, 2 * len(registers))
    assert scanner.feed(bytes(frame)) is None      # CRC-16 catches every single-bit error


def test_regression_a_date_that_is_no_calendar_date_is_a_config_problem():
    """Found by bench/fuzz.py (config): PyYAML's timestamp resolver raised a bare ValueError
    for `date: 2026-28-17`, so check-config died with a traceback instead of naming it."""
    from agent.config.loading import parse_config
    from agent.config.text import ConfigProblems
    real = (REPO / "deploy" / "raspberrypi" / "gateway.example.yaml").read_text()
    with pytest.raises(ConfigProblems) as info:
        parse_config(real + "\nextra_date: 2026-28-17\n")
    assert "not a calendar date" in str(info.value)
    CHECKS["config"](b"holidays:\n  - {date: 2026-13-01}\n")


@pytest.mark.parametrize("junk", [
    "buses:\n  null: {type: modbus-tcp, host: h}\n  lan: {type: modbus-tcp, host: h}\n"
    "devices:\n  - {id: L-1, bus: nope, unit: 1, profile: streetlight-generic}\n",
    "buses:\n  7: {type: modbus-tcp, host: h}\ndevices:\n  - {id: L-1, bus: x, unit: 1}\n",
    "buses: {}\ndevices:\n  - {id: [1], bus: [x], unit: 1}\n  - {id: [1], bus: [x], unit: 1}\n",
    "buses: {}\ndevices:\n  - {id: {a: 1}, bus: {b: 2}, unit: 2}\n"])
def test_regression_bus_names_and_device_ids_of_any_yaml_type_are_config_problems(junk):
    """Found by bench/fuzz.py (config): a null or numeric bus name made sorted() raise
    TypeError in the cross-key checks, and a list as device id or bus was unhashable."""
    from agent.config.loading import parse_config
    from agent.config.text import ConfigProblems
    with pytest.raises(ConfigProblems):
        parse_config(junk)



JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=20)
LIGHT = str(uuid.uuid5(uuid.UUID("00000000-0000-0000-0000-000000006a7e"), "L-001"))
HUGE = "9" * 5000        # json.loads takes it as text but cannot make it an int (4300 digits)


@SHORT
@given(level=JSON | st.integers(-5, 105) | st.just(HUGE),
       name=st.sampled_from(["LevelState", "levelState", "X"]),
       extra=st.dictionaries(st.sampled_from(["reason", "expiration", "start", "cmsRefId",
                                              "rampToLevelTime"]), JSON, max_size=3),
       refs=st.lists(st.fixed_dictionaries({
           "resource": st.sampled_from(["devices", "groups", "x"]),
           "address": st.sampled_from([LIGHT, "", "nope", LIGHT + "/lampActuator"])}),
           max_size=3),
       encoding=st.integers(0, 2))
@example(level=HUGE, name="LevelState", extra={}, refs=[], encoding=0)
def test_override_commands_near_valid_ones_decode_or_are_talq_errors(level, name, extra, refs,
                                                                     encoding):
    body = {"addresses": refs, "targetCommand": {"state": {"name": name, "value": 0}, **extra}}
    raw = json.dumps(body).replace('"value": 0', '"value": ' + (
        level if level is HUGE else json.dumps(level)), 1).encode()
    raw = (raw, gzip.compress(raw), zlib.compress(raw))[encoding]
    CHECKS["talq_override"](bytes([encoding]) + raw)


@SHORT
@given(events=JSON, sources=JSON, delay=JSON | st.integers(-1, 90000),
       kind=st.sampled_from(["EventRecordingMode", "PeriodicRecordingMode", 7]),
       report=st.sampled_from(["ImmediateReportingMode", "ScheduledReportingMode", None]))
def test_logger_configs_near_valid_ones_decode_or_are_talq_errors(events, sources, delay, kind,
                                                                  report):
    body = {"address": "faults", "ownerCMS": "cms", "sourceAddresses": sources,
            "recordingMode": {"type": kind, "sourceEvents": events},
            "reportingMode": {"type": report, "delay": delay}}
    CHECKS["talq_logger"](b"\x00" + json.dumps(body).encode())


@SHORT
@given(content=JSON, profiles=JSON, periods=JSON,
       kind=st.sampled_from(["EventRecordingMode", "PeriodicRecordingMode"]))
def test_periodic_configs_and_active_periods_decode_or_are_talq_errors(content, profiles,
                                                                       periods, kind):
    body = {"address": "energy", "ownerCMS": "cms",
            "recordingMode": {"type": kind, "content": content, "samplingProfiles": profiles,
                              "activePeriods": periods, "sourceEvents": {}},
            "reportingMode": {"type": "ImmediateReportingMode", "delay": 0}}
    CHECKS["talq_logger"](b"\x00" + json.dumps(body).encode())


def test_regression_a_cms_answer_with_functions_not_a_list_is_not_taken():
    """Found by the talq_bootstrap_tree property: `functions: 1.5` in the CMS's answer to the
    bootstrap's step 1 raised TypeError in the bootstrap task (seen failing on the old code)."""
    CHECKS["talq_bootstrap_tree"](bytes([1, 1, 0, 1, 0, 4, 3]))
    from tests.drivers.fuzz_talq import TALQ
    from agent.talq.bootstrap import Bootstrap, NotTaken
    import types
    with pytest.raises(NotTaken):
        Bootstrap._check_addresses(types.SimpleNamespace(talq=TALQ), [{"functions": 1.5}])
