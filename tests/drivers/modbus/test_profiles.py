"""Shipped profiles: they load, do not overlap, probe real points, and decode known byte sequences."""

import struct

import pytest

from agent.errors import ConfigError
from drivers.modbus.codec import decode, encode
from drivers.modbus.profile import available_profiles, load_profile, parse_profile
from drivers.sim.meters import EnergyMeterModel, LuxSensorModel, ProfileRegisters
from drivers.sim.streetlight import StreetLightModel


def words(hex_bytes: str) -> list[int]:
    raw = bytes.fromhex(hex_bytes)
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


@pytest.mark.parametrize("name", available_profiles())
def test_every_shipped_profile_loads_without_overlaps(name):
    profile = load_profile(name)
    assert profile.model == name
    used = {}
    for p in profile.points:
        for reg in range(p.address, p.address + p.count):
            assert (p.table, reg) not in used, f"{p.name} overlaps {used[(p.table, reg)]}"
            used[(p.table, reg)] = p.name
        # zero-based protocol addresses: a 3xxxx/4xxxx number here is the installer trap
        assert p.address < 30000, f"{p.name}: {p.address} looks like a 30001-style number"
    assert profile.probe, f"{name} has no probe points; `lentera scan` cannot recognise it"
    for point in profile.probe:
        profile.point(point)


def test_expected_profiles_are_shipped():
    assert {"streetlight-generic", "eastron-sdm120", "eastron-sdm630",
            "lux-rs485-generic"} <= set(available_profiles())


def test_float32_high_word_first_from_known_bytes():
    # 230.0 V as IEEE-754 float32 is 43 66 00 00: the meter sends 0x4366 first
    assert struct.pack(">f", 230.0) == bytes.fromhex("43660000")
    for name, point in (("eastron-sdm120", "voltage"), ("eastron-sdm630", "voltage_l2")):
        p = load_profile(name).point(point)
        assert decode(words("43660000"), p.type, p.word_order, p.scale) == 230.0
        assert encode(230.0, p.type, p.word_order, p.scale) == [0x4366, 0x0000]
        # the other word order would read nonsense, not 230 V
        assert decode(words("00004366"), p.type, p.word_order, p.scale) != 230.0
    f = load_profile("eastron-sdm120").point("frequency")
    assert decode(words("42480000"), f.type, f.word_order, f.scale) == 50.0


def test_uint32_high_word_first_from_known_bytes():
    # 70000 = 0x00011170: high word 0x0001, low word 0x1170
    for name, point in (("streetlight-generic", "energy"), ("lux-rs485-generic", "lux")):
        p = load_profile(name).point(point)
        assert decode([0x0001, 0x1170], p.type, p.word_order, p.scale) == 70000
        assert encode(70000, p.type, p.word_order, p.scale) == [0x0001, 0x1170]


def test_eastron_addresses_match_the_public_register_map():
    sdm120 = {p.name: p.address for p in load_profile("eastron-sdm120").points}
    assert sdm120 == {"voltage": 0x00, "current": 0x06, "active_power": 0x0C,
                      "apparent_power": 0x12, "reactive_power": 0x18, "power_factor": 0x1E,
                      "frequency": 0x46, "import_energy": 0x48, "export_energy": 0x4A,
                      "total_energy": 0x156}
    sdm630 = {p.name: p.address for p in load_profile("eastron-sdm630").points}
    assert [sdm630[f"voltage_l{i}"] for i in (1, 2, 3)] == [0x00, 0x02, 0x04]
    assert [sdm630[f"current_l{i}"] for i in (1, 2, 3)] == [0x06, 0x08, 0x0A]
    assert [sdm630[f"power_l{i}"] for i in (1, 2, 3)] == [0x0C, 0x0E, 0x10]
    assert (sdm630["total_power"], sdm630["frequency"], sdm630["total_energy"]) == (
        0x34, 0x46, 0x156)
    for profile in ("eastron-sdm120", "eastron-sdm630"):
        assert all(p.table == "input" and p.type == "float32" and p.word_order == "big"
                   for p in load_profile(profile).points)


def test_overlapping_profile_is_rejected():
    text = """
model: bad
points:
  - {name: a, table: input, address: 0, type: float32}
  - {name: b, table: input, address: 1, type: uint16}
"""
    with pytest.raises(ConfigError, match="overlap at input register 1"):
        parse_profile(text, "bad.yaml")


def test_30001_style_address_is_explained():
    text = "model: bad\npoints:\n  - {name: a, table: input, address: 65536, type: uint16}\n"
    with pytest.raises(ConfigError, match="zero-based"):
        parse_profile(text, "bad.yaml")


def test_probe_must_name_a_point():
    text = ("model: bad\nprobe: [nope]\npoints:\n"
            "  - {name: a, table: input, address: 0, type: uint16}\n")
    with pytest.raises(ConfigError, match="nope"):
        parse_profile(text, "bad.yaml")


def test_simulated_meter_registers_decode_through_the_profile():
    lights = [StreetLightModel(u, 0.0, rated_power=100) for u in (1, 2, 3)]
    for model in ("sdm120", "sdm630"):
        meter = EnergyMeterModel(model, 0.0, lights)
        meter.advance(3600.0)
        values = meter.values()
        regs = ProfileRegisters(meter.profile).render("input", values)
        for p in meter.profile.points:
            got = decode(regs[p.address:p.address + p.count], p.type, p.word_order, p.scale)
            assert got == pytest.approx(values[p.name], rel=1e-6), p.name
    lux = LuxSensorModel(lambda: 12.0)
    assert lux.values()["lux"] > 50_000            # noon
    lux.hour_of_day = lambda: 23.0
    assert lux.values()["lux"] < 10                # night
    lux.set_lux(70000)
    regs = ProfileRegisters(lux.profile).render("holding", lux.values())
    assert regs[2:4] == [0x0001, 0x1170]


# --- the installer's own profiles: search path, check, skeleton, grouped problems ------------

import subprocess   # noqa: E402
import sys          # noqa: E402

from agent.config.loading import load_config   # noqa: E402
from drivers.modbus import profile as profile_mod   # noqa: E402

LENTERA = [sys.executable, "-m", "agent.cli"]


def _gateway(tmp_path, devices: str, extra: str = "") -> "Path":
    path = tmp_path / "gateway.yaml"
    path.write_text("gateway: {id: gw-1, site: s, location: {lat: 0, lon: 0}}\n"
                    "uplink: {mqtt: {url: 'mqtt://127.0.0.1:1883'}}\n"
                    "buses: {lan: {type: modbus-tcp, host: 127.0.0.1}}\n" + extra +
                    "devices:\n" + devices)
    return path


def test_config_profiles_folder_is_searched_first_and_reported(tmp_path):
    folder = tmp_path / "my-profiles"
    folder.mkdir()
    (folder / "acme-lamp.yaml").write_text(profile_mod.skeleton("acme-lamp"))
    cfg = _gateway(tmp_path, "  - {id: L1, bus: lan, unit: 1, profile: acme-lamp}\n",
                   "profiles: [my-profiles]\n")
    try:
        assert load_config(cfg).devices[0].profile == "acme-lamp"
        assert profile_mod.load_profile("acme-lamp").model == "acme-lamp"
    finally:
        profile_mod.set_config_dirs([])
    res = subprocess.run(LENTERA + ["profiles", "-c", str(cfg)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stdout.splitlines() if x.startswith("acme-lamp"))
    assert str(folder / "acme-lamp.yaml") in line and "streetlight-generic" in res.stdout


def test_broken_user_profile_gives_key_path_errors_naming_the_file(tmp_path):
    bad = tmp_path / "acme-bad.yaml"
    bad.write_text("model: acme-bad\npoints:\n"
                   "  - {name: a, table: holding, address: 0, type: int16}\n"
                   "  - {name: b, table: coils, address: 1, type: int16, colour: red}\n")
    res = subprocess.run(LENTERA + ["profiles", "check", str(bad)], capture_output=True,
                         text=True)
    assert res.returncode == 2
    assert "points[1].table:" in res.stderr and "(acme-bad.yaml line 4)" in res.stderr
    assert "points[1].colour: unknown key" in res.stderr
    listing = subprocess.run(LENTERA + ["profiles"], capture_output=True, text=True,
                             env={"LENTERA_PROFILE_PATH": str(tmp_path), "PATH": "/usr/bin"})
    assert listing.returncode == 2 and "acme-bad" in listing.stdout and "BROKEN" in listing.stdout
    assert str(bad) in listing.stdout


def test_profiles_new_writes_a_skeleton_that_checks(tmp_path):
    out = tmp_path / "acme-lamp.yaml"
    res = subprocess.run(LENTERA + ["profiles", "new", "acme-lamp", "-o", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "# address: ZERO-based" in out.read_text()
    ok = subprocess.run(LENTERA + ["profiles", "check", str(out)], capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout
    again = subprocess.run(LENTERA + ["profiles", "new", "acme-lamp", "-o", str(out)],
                           capture_output=True, text=True)
    assert again.returncode != 0 and "not overwriting" in again.stderr


def test_a_thousand_devices_with_one_unknown_profile_give_one_line(tmp_path):
    devices = "".join(f"  - {{id: D{i}, bus: lan, unit: {i % 247 + 1}, profile: nope}}\n"
                      for i in range(1000))
    buses = "".join(f"  b{i}: {{type: modbus-tcp, host: 127.0.0.1}}\n" for i in range(5))
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text("gateway: {id: gw-1, site: s, location: {lat: 0, lon: 0}}\n"
                   "uplink: {mqtt: {url: 'mqtt://127.0.0.1:1883'}}\nbuses:\n" + buses +
                   "devices:\n" + "".join(
                       line.replace("bus: lan", f"bus: b{i // 247}")
                       for i, line in enumerate(devices.splitlines(keepends=True))))
    res = subprocess.run(LENTERA + ["check-config", str(cfg)], capture_output=True, text=True)
    assert res.returncode == 2
    lines = [x.strip() for x in res.stderr.splitlines()[1:]]
    assert lines == ["devices[0..999].profile: unknown profile 'nope'; known profiles: "
                     + ", ".join(profile_mod.available_profiles())
                     + " (1,000 devices; first: gateway.yaml line 10)"], lines
