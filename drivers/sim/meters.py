"""Simulated energy meters and a lux sensor: pure models, time injected.

Their registers are laid out from the shipped profiles themselves (values by
point name, encoded with the profile's types and word order), so the simulator
and the agent can never disagree about a map.
"""

import math
import random

from drivers.modbus.codec import encode
from drivers.modbus.profile import Profile, load_profile

METER_PROFILES = {"sdm120": "eastron-sdm120", "sdm630": "eastron-sdm630"}
LUX_PROFILE = "lux-rs485-generic"
CABINET_LOAD_W = 12.0        # the gateway, contactors and meter themselves
FULL_SUN_LUX = 100_000.0
NIGHT_LUX = 0.5


class ProfileRegisters:
    """Registers of one profile's tables, filled from values by point name."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self.sizes = {}
        for table in ("holding", "input"):
            ends = [p.address + p.count for p in profile.points if p.table == table]
            self.sizes[table] = max(ends, default=0)

    def render(self, table: str, values: dict) -> list[int]:
        """The whole table as 16-bit words; unmapped registers read 0."""
        words = [0] * self.sizes[table]
        for p in self.profile.points:
            if p.table == table and p.name in values:
                words[p.address:p.address + p.count] = encode(values[p.name], p.type,
                                                              p.word_order, p.scale)
        return words


class EnergyMeterModel:
    """A cabinet meter measuring the street lights behind it (SDM120 or SDM630)."""

    def __init__(self, model: str, now: float, lights, seed: int = 0):
        if model not in METER_PROFILES:
            raise ValueError(f"unknown meter {model!r}; choose {', '.join(METER_PROFILES)}")
        self.model = model
        self.profile = load_profile(METER_PROFILES[model])
        self.registers = ProfileRegisters(self.profile)
        self.lights = lights          # StreetLightModel objects, advanced by the caller
        self.rng = random.Random(seed * 7919 + 1)
        self.import_kwh = self.rng.uniform(2000, 20000)
        self.frequency = 50.0
        self.t = now

    def phase_power(self) -> list[float]:
        """Active power per phase: lights spread over L1..L3 by unit id, plus noise."""
        phases = [CABINET_LOAD_W / 3] * 3
        for light in self.lights:
            phases[light.unit % 3] += light.power
        return [max(0.0, w * (1 + self.rng.gauss(0, 0.003))) for w in phases]

    def advance(self, now: float) -> None:
        """Integrate energy up to now."""
        dt = max(0.0, now - self.t)
        self.t = now
        self.import_kwh += sum(self.phase_power()) * dt / 3_600_000
        self.frequency += (50.0 - self.frequency) * min(1.0, dt / 10) + self.rng.gauss(0, 0.01)

    def values(self) -> dict:
        """Current readings by profile point name."""
        voltages = [self._voltage(i) for i in range(3)]
        powers = self.phase_power()
        pf = 0.95 if sum(powers) > CABINET_LOAD_W * 1.5 else 0.6
        currents = [p / (v * pf) for p, v in zip(powers, voltages)]
        common = {"frequency": self.frequency, "import_energy": self.import_kwh,
                  "export_energy": 0.0, "total_energy": self.import_kwh}
        if self.model == "sdm120":
            total = sum(powers)
            return {**common, "voltage": voltages[0], "current": total / (voltages[0] * pf),
                    "active_power": total, "apparent_power": total / pf,
                    "reactive_power": total * math.tan(math.acos(pf)), "power_factor": pf}
        values = dict(common, total_power=sum(powers), total_power_factor=pf)
        for i in range(3):
            values[f"voltage_l{i + 1}"] = voltages[i]
            values[f"current_l{i + 1}"] = currents[i]
            values[f"power_l{i + 1}"] = powers[i]
        return values

    def _voltage(self, phase: int) -> float:
        on_phase = [light.voltage for light in self.lights if light.unit % 3 == phase]
        pool = on_phase or [light.voltage for light in self.lights] or [230.0]
        return sum(pool) / len(pool)


class LuxSensorModel:
    """Illuminance following a day/night curve, or a value set by hand."""

    def __init__(self, hour_of_day, seed: int = 0):
        self.profile = load_profile(LUX_PROFILE)
        self.registers = ProfileRegisters(self.profile)
        self.hour_of_day = hour_of_day     # () -> local hour 0..24 (float)
        self.fixed: float | None = None
        self.rng = random.Random(seed * 104729 + 2)

    def set_lux(self, lux: float | None) -> None:
        """Pin the reading (None returns to the day/night curve)."""
        self.fixed = lux

    def lux(self) -> float:
        """Current illuminance in lux."""
        if self.fixed is not None:
            return self.fixed
        hour = self.hour_of_day()
        # sun up 06:00..18:00 (near the equator, as Tangerang is), cloud noise on top
        if 6.0 < hour < 18.0:
            elevation = math.sin(math.pi * (hour - 6.0) / 12.0)
            return max(NIGHT_LUX, FULL_SUN_LUX * elevation ** 1.5
                       * (1 + self.rng.gauss(0, 0.05)))
        return NIGHT_LUX

    def values(self) -> dict:
        """Current readings by profile point name."""
        return {"lux": int(min(200_000, max(0, round(self.lux()))))}
