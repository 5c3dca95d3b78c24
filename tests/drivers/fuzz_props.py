"""The fuzzing property of every decoder of outside bytes, one `check_<decoder>(data)` each.

Shared by the short hypothesis run in the suite (tests/drivers/test_fuzz_decoders.py)
and the long coverage-guided run (bench/fuzz.py, atheris). Each check feeds `data`
to one decoder and asserts: it returned a well-formed result or raised its own
documented error; nothing else escapes (an IndexError, struct.error, TypeError or
RecursionError is a crash: it propagates out of the check).
"""

import math
import types
from zoneinfo import ZoneInfo

from agent.config.loading import parse_config
from agent.errors import ConfigError
from agent.sparkplug.edge import EdgeState
from agent.sparkplug.node import HostState
from agent.sparkplug.payloads import build_models
from agent.sparkplug.topics import Topics
from agent.talq.bodies import decode as talq_decode
from agent.talq.catalog import Catalog
from agent.talq.errors import TalqError
from agent.talq.loggers import decode_logger, records
from agent.talq.periods import active
from agent.talq.sampling import first_instant
from agent.talq.overrides import decode_override
from agent.uplink.intake import CommandIntake
from agent.uplink.signing import BadEnvelope, envelope_parts
from drivers.errors import FrameError
from drivers.modbus.mbap import MAX_LENGTH, check_reply, take_frames
from drivers.modbus.rtu_frame import ReplyScanner, with_crc
from drivers.modbus.profile import load_profile
from drivers.serial.parsers import make_parser

FUNCTIONS = (3, 4, 6, 16)


def check_rtu(data: bytes) -> None:
    """ReplyScanner: feed() never raises; what it returns is a checked reply in the input."""
    if len(data) < 4:
        return
    unit, fc, count = 1 + data[0] % 247, FUNCTIONS[data[1] % 4], 1 + data[2] % 125
    size = 2 * count if fc in (3, 4) else 4
    scanner = ReplyScanner(unit, fc, size)
    stream, step = data[4:], 1 + data[3] % 16
    pdu = None
    for i in range(0, len(stream), step):
        pdu = scanner.feed(stream[i:i + step])
        if pdu is not None:
            break
    assert scanner.noise_bytes >= 0 and scanner.leftover() >= 0
    assert scanner.noise_bytes + scanner.leftover() <= len(stream)
    if pdu is None:
        return
    if pdu[0] & 0x80:
        assert pdu[0] == fc | 0x80 and len(pdu) == 2, pdu
    else:
        assert pdu[0] == fc and len(pdu) == 1 + (1 if fc in (3, 4) else 0) + size, pdu
        assert fc not in (3, 4) or pdu[1] == size
    assert with_crc(bytes([unit]) + pdu) in stream     # a frame that really came, CRC good


def check_mbap(data: bytes) -> None:
    """take_frames/check_reply: well-formed frames and checked replies, or FrameError."""
    if len(data) < 3:
        return
    unit, fc, count = data[0], FUNCTIONS[data[1] % 4], data[2] % 126
    buf = bytearray(data[3:])
    before = len(buf)
    try:
        frames = take_frames(buf)
    except FrameError:
        return
    assert before - len(buf) == sum(7 + len(pdu) for _, _, pdu in frames)
    for tid, reply_unit, pdu in frames:
        assert 0 <= tid <= 0xFFFF and 1 <= len(pdu) <= MAX_LENGTH - 1
        try:
            code, body = check_reply(unit, fc, count if fc in (3, 4) else 0, reply_unit, pdu)
        except FrameError:
            continue
        assert reply_unit == unit
        if code is not None:
            assert pdu[0] == fc | 0x80 and body == b""
        elif fc in (3, 4) and count:
            assert len(body) == 2 * count
        else:
            assert len(body) == 4


def _check_serial(kind: str, data: bytes, **options) -> None:
    parser = make_parser(kind, **options)
    step = 1 + (data[0] % 32 if data else 0)
    for i in range(0, len(data), step):
        for reading in parser.feed(data[i:i + step], 1.0):
            assert reading.values and all(
                isinstance(v, float) and math.isfinite(v) for v in reading.values.values())
    assert all(n >= 0 for n in parser.counters.as_dict().values())


def check_sds011(data: bytes) -> None:
    """SDS011 parser: never raises, readings are finite floats."""
    _check_serial("sds011", data)


def check_pms5003(data: bytes) -> None:
    """PMS5003 parser: never raises, readings are finite floats."""
    _check_serial("pms5003", data)


def check_ascii(data: bytes) -> None:
    """ASCII line parser (a typical pattern): never raises, readings are finite floats."""
    _check_serial("ascii", data, pattern=r"T=(?P<temp>[-+0-9.eE]+)\s+H=(?P<rh>[-+0-9.eE]+)",
                  scales={"rh": 0.1}, max_line_len=64)


FUZZ_KEY = bytes(range(32))


def check_envelope(data: bytes) -> None:
    """The command topic's intake, as the agent runs it: every message ends in exactly one of
    accepted, refused or counted-unanswered, and nothing escapes submit()."""
    try:
        payload, sig = envelope_parts(data)
    except BadEnvelope:
        pass
    else:
        assert isinstance(payload, str) and isinstance(sig, str)
    outcomes = []
    intake = CommandIntake(FUZZ_KEY, lambda p: outcomes.append(("accepted", p)),
                           lambda cid, reason: outcomes.append(("refused", cid, reason)),
                           clock=lambda: 0.0)
    intake.submit(data)
    assert len(outcomes) + intake.unanswered == 1, outcomes
    if outcomes and outcomes[0][0] == "refused":
        cid = outcomes[0][1]
        assert cid is None or (isinstance(cid, str) and len(cid) <= 128)


def check_config(data: bytes) -> None:
    """parse_config: a GatewayConfig or ConfigError (with its problems)."""
    try:
        parse_config(data.decode("utf-8", "replace"))
    except ConfigError as exc:
        assert str(exc)


class _Light:
    profile = load_profile("streetlight-generic")


FUZZ_MODELS = build_models({"L-001": _Light()})


def check_spb_command(data: bytes) -> None:
    """An NCMD or DCMD from the broker: refused and counted, or a rebirth; nothing escapes."""
    topics = Topics("city", "gw")
    edge = EdgeState(topics, FUZZ_MODELS, lambda: 0)
    for topic in (topics.ncmd, topics.device("DCMD", "L-001")):
        before = edge.counts["commands_refused"]
        outcome = edge.command(topic, data)
        if isinstance(outcome, tuple):       # a write: only a known device's switch/dim
            device, switch, dim = outcome
            assert device == "L-001" and switch in (None, True, False)
            assert dim is None or 0 <= dim <= 100
        else:
            assert outcome in (None, "rebirth")
            assert outcome == "rebirth" or edge.counts["commands_refused"] > before


def check_spb_state(data: bytes) -> None:
    """A primary host's STATE: taken (online, timestamp) or ignored and counted."""
    host = HostState()
    taken = host.update(data)
    assert taken != bool(host.ignored)
    if taken:
        assert isinstance(host.online, bool) and 0 <= host.timestamp < 2 ** 63


class _TalqSite:
    """What the TALQ decoders look at: two lights in group road, a meter (no lamp actuator)."""

    def __init__(self):
        kinds = {"L-001": "streetlight", "L-002": "streetlight", "M-1": "meter"}
        ns = types.SimpleNamespace
        self.config = ns(devices=[ns(id=d) for d in kinds], gateway=ns(id="gw"))
        self.devices = {d: ns(profile=ns(kind=k)) for d, k in kinds.items()}
        self.lighting = ns(controller=ns(groups={"road": ["L-001", "L-002"]},
                                         devices=["L-001", "L-002"]))


TALQ_CATALOG = Catalog(_TalqSite(), types.SimpleNamespace(
    gateway_address="00000000-0000-0000-0000-000000006a7e"))
TALQ_NOW = 1_800_000_000.0
TALQ_ZONE = ZoneInfo("Asia/Jakarta")


def check_talq_override(data: bytes) -> None:
    """A TALQ request body (identity, gzip or deflate, as §3.5 allows) decoded and read as an
    OverrideCommand: lights of ours with a level 0..100, or a TalqError (400 or 422)."""
    encoding = ("identity", "gzip", "deflate")[data[0] % 3] if data else "identity"
    try:
        body = talq_decode(data[1:], encoding, 4096)
        lights, switch, dim, expires, label = decode_override(body, TALQ_CATALOG, TALQ_NOW)
    except TalqError as exc:
        assert exc.status in (400, 422) and exc.key and exc.description
        return
    assert lights and set(lights) <= {"L-001", "L-002"} and len(set(lights)) == len(lights)
    assert (switch, dim) == (None, None) or switch is (dim is not None)
    assert dim is None or (type(dim) is int and 1 <= dim <= 100)
    assert expires is None or expires > TALQ_NOW
    assert isinstance(label, str) and len(label) < 100


_LIGHT = TALQ_CATALOG.address_of("L-001")
TALQ_WORDS = ("addresses", "resource", "address", "devices", "groups", "targetCommand",
              "state", "name", "value", "LevelState", "levelState", "BooleanState", "reason",
              "override", "program", "cmsRefId", "expiration", "start", "rampToLevelTime",
              "2027-01-01T00:00:00Z", "2020-01-01T00:00:00+07:00", "2027-01-01T00:00:00",
              "9999-12-31T23:59:59-23:59", _LIGHT, _LIGHT + "/lampActuator",
              _LIGHT + "/lampActuator/targetLightCommand", _LIGHT + "/x",
              TALQ_CATALOG.address_of("M-1"), "00000000-0000-0000-0000-000000006a7e",
              next(iter(TALQ_CATALOG.groups)), "ownerCMS", "recordingMode", "reportingMode",
              "type", "EventRecordingMode", "PeriodicRecordingMode", "ImmediateReportingMode",
              "ScheduledReportingMode", "sourceEvents", "whiteList", "blackList", "delay",
              "lampFailure", "sourceAddresses", "activePeriods", "faults", "content",
              "function", "functionId", "functionType", "LampMonitorFunction", "attributes",
              "supplyVoltage", "onChangeThreshold", "attributeScope", "samplingProfiles",
              "samplingStartTime", "samplingPeriod", "samplingEndTime", "PT10S", "P1DT2H",
              "PT1S", "AbsoluteActivePeriod", "AstroClockActivePeriod", "SensorActivePeriod",
              "startTime", "endTime", "21:30:00", "07:00:00", "sunsetOffset", "sunriseOffset",
              "")


def talq_tree(data: bytes, words=TALQ_WORDS):
    """A JSON value built from bytes (opcodes and the words of the TALQ bodies), so the
    coverage-guided fuzzer steers through the decoders' Python, not through C json."""
    pos = [0]

    def byte() -> int:
        pos[0] += 1
        return data[pos[0] - 1] if pos[0] <= len(data) else 0

    def value(depth: int):
        op = byte() % 9
        if op == 0 and depth < 6:
            return {words[byte() % len(words)]: value(depth + 1) for _ in range(byte() % 5)}
        if op == 1 and depth < 6:
            return [value(depth + 1) for _ in range(byte() % 5)]
        if op == 2:
            return byte() - 8
        if op == 3:
            return (byte() << 24 | byte() << 16 | byte() << 8 | byte()) - (1 << 31)
        if op == 4:
            return (float("nan"), float("inf"), -0.0, 0.5, 100.0, 1e308)[byte() % 6]
        if op == 5:
            return bool(byte() & 1)
        if op == 6:
            return None
        return words[byte() % len(words)]
    return value(0)


def check_talq_override_tree(data: bytes) -> None:
    """decode_override on structures near real OverrideCommands (see talq_tree)."""
    body = talq_tree(data)
    try:
        lights, switch, dim, expires, label = decode_override(body, TALQ_CATALOG, TALQ_NOW)
    except TalqError as exc:
        assert exc.status in (400, 422) and exc.key and exc.description
        return
    assert lights and set(lights) <= {"L-001", "L-002"}
    assert dim is None or (type(dim) is int and 1 <= dim <= 100)
    assert expires is None or expires > TALQ_NOW


def check_talq_logger_tree(data: bytes) -> None:
    """decode_logger on structures near real LoggerConfigs (see talq_tree)."""
    try:
        logger = decode_logger(talq_tree(data), TALQ_CATALOG)
    except TalqError as exc:
        assert exc.status in (400, 422) and exc.key and exc.description
        return
    _answers(logger)


def _answers(logger: dict) -> None:
    """A decoded logger's filters, active periods and sampling instants all answer."""
    for device in ("L-001", "M-1", "gateway"):
        assert records(logger, device, "lampFailure") in (True, False)
    for at in (TALQ_NOW, TALQ_NOW + 43_200):
        assert active(logger["periods"], at, TALQ_ZONE, -6.178, 106.632) in (True, False)
    for profile in (logger["periodic"] or {}).get("profiles", ()):
        when = first_instant(profile, TALQ_NOW)
        assert when is None or when >= TALQ_NOW


def check_talq_logger(data: bytes) -> None:
    """A TALQ body read as a LoggerConfig: a stored form whose filters answer, or TalqError."""
    encoding = ("identity", "gzip", "deflate")[data[0] % 3] if data else "identity"
    try:
        logger = decode_logger(talq_decode(data[1:], encoding, 4096), TALQ_CATALOG)
    except TalqError as exc:
        assert exc.status in (400, 422) and exc.key and exc.description
        return
    assert isinstance(logger["config"]["address"], str) and 0 <= logger["delay"] <= 86400
    _answers(logger)


CHECKS = {"rtu": check_rtu, "mbap": check_mbap, "sds011": check_sds011,
          "pms5003": check_pms5003, "ascii": check_ascii, "envelope": check_envelope,
          "config": check_config, "spb_cmd": check_spb_command, "spb_state": check_spb_state,
          "talq_override": check_talq_override, "talq_logger": check_talq_logger,
          "talq_override_tree": check_talq_override_tree,
          "talq_logger_tree": check_talq_logger_tree}
