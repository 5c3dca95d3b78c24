"""The edge node's births, data and deaths, decoded by the host peer's own Payload class."""

import json

import pytest
from pydantic import ValidationError

from agent.config.sparkplug import SparkplugConfig
from agent.sparkplug.edge import EdgeState
from agent.sparkplug.payloads import build_models
from agent.sparkplug.topics import StateError, Topics, read_state
from drivers.modbus.profile import load_profile
from tests.support.sparkplug_host import Payload


class Device:
    def __init__(self, profile):
        self.profile = profile


@pytest.fixture
def edge():
    light = Device(load_profile("streetlight-generic"))
    sent = []
    clock = [10_000]
    state = EdgeState(Topics("city", "gw"), build_models({"L-1": light, "L-2": light}),
                      lambda: clock[0], lambda topic, data: sent.append(
                          (topic, Payload.FromString(data))))
    state.clock, state.sent_messages = clock, sent
    return state


def row(device, ts, quality="good", **values):
    return (f"city/lighting/gw/telemetry/{device}",
            json.dumps({"ts": ts, "values": values, "quality": quality}))


def test_births_name_every_metric_with_a_node_wide_unique_alias_and_profile_units(edge):
    edge.birth(bdseq=7)
    kinds = [t.split("/")[2] for t, _ in edge.sent_messages]
    assert kinds == ["NBIRTH", "DBIRTH", "DBIRTH"]
    assert [p.seq for _, p in edge.sent_messages] == [0, 1, 2]
    nbirth = edge.sent_messages[0][1]
    assert {m.name: m.long_value for m in nbirth.metrics}["bdSeq"] == 7
    aliases = [m.alias for _, p in edge.sent_messages for m in p.metrics if m.HasField("alias")]
    assert len(aliases) == len(set(aliases))
    dim = next(m for m in edge.sent_messages[1][1].metrics if m.name == "dim")
    props = dict(zip(dim.properties.keys, dim.properties.values))
    assert props["engUnit"].string_value == "%" and props["engHigh"].double_value == 100
    assert dim.datatype == 6 and dim.is_null       # UInt16; no reading yet: null
    voltage = next(m for m in edge.sent_messages[1][1].metrics if m.name == "voltage")
    assert voltage.datatype == 10                  # scaled: Double


def test_data_reports_by_exception_by_alias_and_seq_wraps_at_255(edge):
    edge.birth(bdseq=0)
    edge.row(*row("L-1", 10_001, dim=10, voltage=230.0))
    edge.row(*row("L-1", 10_002, dim=10, voltage=230.0))         # unchanged: nothing
    edge.row(*row("L-1", 10_003, dim=11, voltage=230.0))
    data = [p for t, p in edge.sent_messages if "/DDATA/" in t]
    assert len(data) == 2
    assert [len(p.metrics) for p in data] == [2, 1]
    assert not any(m.HasField("name") for p in data for m in p.metrics)
    assert data[1].metrics[0].int_value == 11 and data[1].metrics[0].timestamp == 10_003
    for i in range(300):
        edge.row(*row("L-2", 10_004 + i, dim=i % 101))
    assert all(p.HasField("timestamp") and all(m.HasField("timestamp") for m in p.metrics)
               for _, p in edge.sent_messages)
    seqs = [p.seq for _, p in edge.sent_messages]
    assert all(b == (a + 1) % 256 for a, b in zip(seqs, seqs[1:]))
    assert 255 in seqs and seqs.count(0) >= 2


def test_history_keeps_its_timestamps_and_a_silent_device_dies_once(edge):
    edge.birth(bdseq=0)
    edge.row(*row("L-1", 5_000, dim=50))                         # polled before the NBIRTH
    edge.row(*row("L-1", 10_001, quality="stale", dim=50))
    edge.row(*row("L-1", 10_002, quality="stale", dim=50))
    edge.row(*row("L-1", 10_003, dim=51))
    kinds = [t.split("/")[2] for t, _ in edge.sent_messages[3:]]
    assert kinds == ["DDATA", "DDEATH", "DBIRTH"]
    history = edge.sent_messages[3][1].metrics[0]
    assert history.is_historical and history.timestamp == 5_000
    edge.birth(bdseq=0)                                          # a rebirth: all born again
    assert [t.split("/")[2] for t, _ in edge.sent_messages[-3:]] == ["NBIRTH", "DBIRTH",
                                                                    "DBIRTH"]


def test_commands_other_than_rebirth_are_refused_and_counted(edge):
    ask = Payload(timestamp=1)
    ask.metrics.add(name="Node Control/Rebirth", datatype=11, boolean_value=True)
    assert edge.command(edge.topics.ncmd, ask.SerializeToString()) == "rebirth"
    reboot = Payload(timestamp=1)
    reboot.metrics.add(name="Node Control/Reboot", datatype=11, boolean_value=True)
    assert edge.command(edge.topics.ncmd, reboot.SerializeToString()) is None
    assert edge.command(edge.topics.device("DCMD", "L-1"), ask.SerializeToString()) is None
    assert edge.command(edge.topics.ncmd, b"\xff\xff") is None
    assert edge.counts["commands_refused"] == 3 and edge.counts["rebirth_requests"] == 1


@pytest.mark.parametrize("bad", ["city/a", "a+b", "#", ""])
def test_ids_with_reserved_characters_are_refused(bad):
    with pytest.raises(ValidationError, match="Sparkplug id"):
        SparkplugConfig(group_id=bad)
    assert SparkplugConfig().enabled is False


@pytest.mark.parametrize("data", [b"[]", b'{"online": 1, "timestamp": 1}',
                                  b'{"online": true, "timestamp": -1}',
                                  b'{"online": true, "timestamp": 1e400}', b"\xff", bytes(2000)])
def test_malformed_state_is_refused(data):
    with pytest.raises(StateError):
        read_state(data)


def test_sparkplug_is_an_interface_for_telemetry_only_when_enabled(tmp_path):
    from agent import northbound
    from agent.config.loading import parse_config
    from agent.store.outbox_db import INTERFACES
    from tests.support.gateway_files import write_gateway
    text = write_gateway(tmp_path / "gw.yaml", "mqtt://127.0.0.1:1", 5020, 1).read_text()
    plain = parse_config(text)
    assert northbound.interfaces(plain) == ("json",)
    config = parse_config(text + "sparkplug: {enabled: true, primary_host_id: scada}\n")
    assert northbound.interfaces(config) == ("json", "sparkplug")
    routes = northbound.routes(config)
    assert routes["telemetry"] is None and routes["events"] == INTERFACES["json"]


def test_live_metrics_are_in_chronological_order_in_births_and_data(edge):
    """[tck-id-operational-behavior-data-publish-dbirth-order]: live metrics oldest first."""
    edge.birth(bdseq=0)
    for i in range(20):
        edge.row(*row("L-1", 10_001 + i, dim=i, voltage=230.0 + i))
    edge.clock[0] = 20_000
    edge.birth(bdseq=0)                            # births carrying the last readings
    checked = 0
    for topic, payload in edge.sent_messages:
        if "/DBIRTH/" in topic or "/DDATA/" in topic:
            stamps = [m.timestamp for m in payload.metrics if not m.is_historical]
            assert stamps == sorted(stamps), (topic, stamps)
            checked += 1
    assert checked >= 20


def test_no_two_metric_names_of_a_device_match_in_lower_case():
    """[tck-id-case-sensitivity-metric-names]: every shipped profile passes, and a profile
    with `power` and `Power` is refused at start-up naming both."""
    from pathlib import Path

    from drivers.errors import ConfigError
    folder = Path(__file__).resolve().parents[3] / "drivers" / "profiles"
    profiles = sorted(p.stem for p in folder.glob("*.yaml"))
    assert len(profiles) >= 4
    build_models({name: Device(load_profile(name)) for name in profiles})
    light = load_profile("streetlight-generic")
    twin = light.points[0].model_copy(update={"name": "Switch"})   # `switch` but for case
    clashing = type("P", (), {"points": [*light.points, twin]})()
    with pytest.raises(ConfigError, match=r"equal but for case \(switch\)"):
        build_models({"L-1": Device(clashing)})


def test_ddata_puts_each_datatype_in_its_own_value_field():
    """The value-field table ddata uses (payloads.VALUE_FIELDS) agrees with the datatypes
    the births declare; decoded by the host peer's classes."""
    from types import SimpleNamespace

    from agent.sparkplug import payloads

    def point(name, type_, scale=1):
        return SimpleNamespace(name=name, type=type_, scale=scale, unit="", min=None,
                               max=None, access="r")
    model = payloads.DeviceMetrics("d", [point("a", "int16"), point("b", "uint32"),
                                         point("c", "float32"), point("d", "uint16", 0.1),
                                         point("e", "int32")], 3)
    data = Payload.FromString(payloads.ddata(1, 2, model, {"a": -2, "b": 70000, "c": 1.5,
                                                           "d": 23.4, "e": None, "x": 1},
                                             5, True))
    got = {m.alias: (m.WhichOneof("value"), payloads.metric_value(m), m.is_historical)
           for m in data.metrics}
    assert got == {3: ("int_value", 0xFFFFFFFE, True), 4: ("int_value", 70000, True),
                   5: ("float_value", 1.5, True), 6: ("double_value", 23.4, True),
                   7: (None, None, True)}
    assert [m.datatype for m in Payload.FromString(
        payloads.dbirth(1, 2, model, {}, 1)).metrics] == [2, 7, 9, 10, 3]   # Tahu's numbers
