"""`lentera scan` finds the simulator's units and matches shipped profiles, over TCP and RTU."""

import asyncio
import subprocess
import sys
import textwrap

import pytest
import yaml

from drivers.modbus import scan as scanner
from drivers.modbus.profile import Profile
from drivers.modbus.rtu import ModbusRtuBus
from drivers.modbus.tcp import ModbusTcpBus
from tests.conftest import REPO
from tests.drivers.modbus.rtu.responder import Responder, value
from tests.drivers.modbus.rtu.site import RtuSiteThread


@pytest.fixture
def rtu_site(tmp_path):
    """One simulated RTU site: 2 lights (unit 2 dead) and an SDM630 at unit 4."""
    site = RtuSiteThread(tmp_path / "rs485", 2, meter="sdm630", meter_unit=4).start()
    yield site
    site.stop()


def test_parse_units_and_sweep_order():
    assert scanner.parse_units("1-3,7, 5") == [1, 2, 3, 5, 7]
    for bad in ("0-3", "5-2", "x", "248"):
        try:
            scanner.parse_units(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")
    settings = scanner.sweep_settings(19200, "E", baud_sweep=True, parity_sweep=True)
    assert settings[0] == (19200, "E", 1) and len(settings) == 24 == len(set(settings))
    two = scanner.sweep_settings(9600, "E", baud_sweep=False, parity_sweep=False, stopbits=2)
    assert [s.label() for s in two] == ["9600 8E2"]     # the framing used, not always "...1"


def test_tcp_scan_finds_units_and_profiles(site_factory):
    site = site_factory(3, meter="sdm120", meter_unit=5, lux_unit=7)
    progress = []

    def open_bus(setting):
        return ModbusTcpBus("lan", "127.0.0.1", site.port, timeout_s=0.3)
    hits = asyncio.run(scanner.scan(open_bus, list(range(1, 9)), [scanner.LineSetting(None, None)],
                                    progress.append))
    found = {h.unit: h.profile for h in hits}
    assert found == {1: "streetlight-generic", 2: "streetlight-generic",
                     3: "streetlight-generic", 5: "eastron-sdm120", 7: "lux-rs485-generic"}
    assert [p.probed for p in progress] == list(range(1, 9))
    assert progress[-1].found == 5 and progress[-1].eta_s == 0
    text = scanner.devices_yaml(hits, "lan", scanner.LineSetting(None, None))
    devices = yaml.safe_load(text)["devices"]
    assert {d["id"]: d["profile"] for d in devices} == {
        "L-001": "streetlight-generic", "L-002": "streetlight-generic",
        "L-003": "streetlight-generic", "M-005": "eastron-sdm120",
        "LUX-007": "lux-rs485-generic"}


def test_rtu_scan_tells_sdm630_from_sdm120_and_ignores_silent_units(rtu_site):
    site = rtu_site
    site.call(site.site.set_dead, 2)

    def open_bus(setting):
        # the test is about telling the meters apart, not about the probe's short timeout
        # (~0.1 s at 9600): with the suite loading both cores, the responder thread answered
        # unit 4 later than that and the scan missed it
        return ModbusRtuBus("rs485", site.path, baudrate=setting.baudrate,
                            parity=setting.parity,
                            timeout_s=max(scanner.probe_timeout_s(setting), 0.5))
    hits = asyncio.run(scanner.scan(open_bus, [1, 2, 3, 4], [scanner.LineSetting(9600, "N")]))
    by_unit = {h.unit: h for h in hits}
    assert set(by_unit) == {1, 4}
    assert by_unit[4].profile == "eastron-sdm630"
    assert by_unit[4].matches == ("eastron-sdm630", "eastron-sdm120")
    assert 180 < by_unit[4].values["voltage_l3"] < 260


def _probe(model: str, table: str, address: int) -> Profile:
    return Profile.model_validate({"model": model, "probe": ["p"], "points": [
        {"name": "p", "table": table, "address": address, "type": "uint16"}]})


class Recorded:
    """The real bus, with every read's answer noted (to check each against the responder)."""

    def __init__(self, bus):
        self.bus, self.reads = bus, []
        self.name, self.endpoint, self.connect, self.close = (bus.name, bus.endpoint,
                                                               bus.connect, bus.close)

    async def read(self, device, unit, table, address, count):
        words = await self.bus.read(device, unit, table, address, count)
        self.reads.append(((unit, table, address, count), words))
        return words


def test_rtu_scan_never_reads_a_late_reply_as_the_next_probes_answer():
    # units 5 and 6 answer every other request 30-80 ms after the timeout; every register
    # names its unit, table and address, so a reply taken for another probe shows
    timeout_s = 0.1
    responder = Responder({5: "late", 6: "late", 9: "healthy"}, timeout_s=timeout_s).start()
    buses = []

    def open_bus(setting):
        buses.append(Recorded(ModbusRtuBus("rs485", responder.path, baudrate=setting.baudrate,
                                           timeout_s=timeout_s, late_window_s=0.13)))
        return buses[-1]
    profiles = [_probe(f"P{i}", table, address) for i, (table, address) in enumerate(
        [("holding", 0), ("holding", 10), ("input", 100), ("holding", 0), ("input", 101),
         ("holding", 11), ("holding", 0), ("input", 100)])]
    try:
        hits = asyncio.run(scanner.scan(open_bus, [5, 6, 7, 9], [scanner.LineSetting(9600, "N")],
                                        profiles=profiles))
    finally:
        responder.stop()
    assert {h.unit for h in hits} == {5, 6, 9}
    reads = buses[0].reads
    wrong = [(request, words) for request, words in reads
             if words != [value(request[0], request[1], request[2])]]
    assert len(reads) >= 12 and wrong == [], wrong
    # each late reply is either caught in the late window or, when the loaded box delayed the
    # responder's thread past it, drained as noise before the next request; none goes missing
    counters = buses[0].bus.counters
    caught = sum(counters.late_replies.values())
    missed = responder.late_sent - caught
    assert responder.late_sent >= 4 and caught >= 1 and missed >= 0, (
        counters.late_replies, responder.late_sent)
    assert counters.noise_bytes >= 7 * missed, (counters.noise_bytes, missed)   # 7 B per reply


def test_scan_cli_sweeps_baud_over_rtu_and_writes_yaml(tmp_path):
    link = tmp_path / "rs485"
    sim = subprocess.Popen([sys.executable, "-m", "agent.cli", "simulate", "--lights", "2",
                            "--rtu", str(link), "--baud", "19200", "--lux-unit", "3"],
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
    try:
        pty_name = sim.stdout.readline().strip()
        assert pty_name.startswith("/dev/"), "simulator did not print its pty name"
        config = tmp_path / "gateway.yaml"
        config.write_text(textwrap.dedent(f"""\
            gateway: {{id: gw, site: test, location: {{lat: -6.2, lon: 106.6}}}}
            uplink: {{mqtt: {{url: "mqtt://127.0.0.1:1883"}}}}
            buses:
              rs485: {{type: modbus-rtu, port: {link}, baudrate: 9600}}
            devices: []
            """))
        out = tmp_path / "found.yaml"
        result = subprocess.run([sys.executable, "-m", "agent.cli", "scan", "--bus", "rs485",
                                 "-c", str(config), "--units", "1-4", "--baud-sweep",
                                 "--write-yaml", str(out)],
                                cwd=REPO, capture_output=True, text=True, timeout=60)
    finally:
        sim.terminate()
        sim.wait(10)
    assert result.returncode == 0, result.stderr
    assert "32/32 probed, 3 found" in result.stderr          # the progress line
    assert "unit   3  19200 8N1   lux-rs485-generic" in result.stdout
    devices = yaml.safe_load(out.read_text())["devices"]
    assert [(d["unit"], d["profile"]) for d in devices] == [
        (1, "streetlight-generic"), (2, "streetlight-generic"), (3, "lux-rs485-generic")]
    assert "answered at 19200 8N1, not the bus's 9600 8N1" in out.read_text()


def _scan_simulated_8e1_bus(tmp_path, framing: str, *flags) -> subprocess.CompletedProcess:
    """`lentera scan` of units 1-2 on a simulated 8E1 bus, configured as `framing` ('N1')."""
    link = tmp_path / "rs485"
    sim = subprocess.Popen([sys.executable, "-m", "agent.cli", "simulate", "--lights", "1",
                            "--rtu", str(link), "--parity", "E"],
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
    try:
        assert sim.stdout.readline().strip().startswith("/dev/")
        config = tmp_path / "gateway.yaml"
        config.write_text(textwrap.dedent(f"""\
            gateway: {{id: gw, site: test, location: {{lat: -6.2, lon: 106.6}}}}
            uplink: {{mqtt: {{url: "mqtt://broker.city.example:8883"}}}}
            buses:
              rs485: {{type: modbus-rtu, port: {link}, baudrate: 9600, parity: {framing[0]},
                       stopbits: {framing[1]}}}
            devices: []
            """))
        return subprocess.run([sys.executable, "-m", "agent.cli", "scan", "--bus", "rs485",
                               "-c", str(config), "--units", "1-2", *flags],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
    finally:
        sim.terminate()
        sim.wait(10)


def test_scan_of_a_simulated_8e1_bus_finds_it_at_its_own_parity_only(tmp_path):
    """Before: the simulator's pty carried no parity, so a parity sweep from 8N1 found the
    8E1 bus's light at 8N1, the first setting tried, with a note saying so."""
    result = _scan_simulated_8e1_bus(tmp_path, "N1", "--parity-sweep")
    assert result.returncode == 0, result.stderr
    assert "unit   1  9600 8E1    streetlight-generic" in result.stdout, result.stdout
    assert "8N1" not in result.stdout and "8O1" not in result.stdout, result.stdout
    assert "pseudo-terminal" not in result.stderr


def test_scan_at_the_wrong_stop_bits_finds_nobody_on_a_simulated_bus(tmp_path):
    """Stop bits are framing too: 8E2 against the 8E1 bus answers nothing (before: it answered
    and was labelled 8E2)."""
    result = _scan_simulated_8e1_bus(tmp_path, "E2")
    assert "0 device(s) answered" in result.stderr, result.stdout + result.stderr
    assert "8E2" not in result.stdout
