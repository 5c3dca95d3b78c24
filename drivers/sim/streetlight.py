"""Physics of a simulated street-light controller: pure, time injected."""

import math
import random

AMBIENT_C = 30.0          # Tangerang night-time ambient
THERMAL_TAU_S = 300.0     # driver heats/cools with a ~5 min time constant
TEMP_RISE_PER_W = 0.35    # °C above ambient per watt of load
FAULT_LAMP, FAULT_OVERTEMP, FAULT_OVERVOLT, FAULT_UNDERVOLT = 1, 2, 4, 8
CYCLE_PERIOD_S = 40.0     # an end-of-life lamp: ~20 s lit, ~20 s out
# injectable faults, named as the anomaly detector's events (TALQ names where they exist)
FAULT_KINDS = ("lampFailure", "dayBurning", "cycling", "activePowerTooHigh",
               "lampVoltageTooLow", "lampVoltageTooHigh", "sensorStuck",
               "energyCounterDecrease")


class StreetLightModel:
    """One controller: switch/dim in, plausible electrical readings out."""

    def __init__(self, unit: int, now: float, seed: int = 0, rated_power: int | None = None):
        self.rng = random.Random(seed * 1000 + unit)
        self.unit = unit
        self.rated_power = rated_power or self.rng.choice((60, 90, 120, 150))
        self.switch = 1
        self.dim = 100
        self.voltage = 220.0 + self.rng.uniform(-3, 3)
        self.power = 0.0
        self.energy_wh = self.rng.uniform(1000, 50000)
        self.burn_h = self.energy_wh / self.rated_power
        self.switch_ons = int(self.burn_h / 11)   # ON/OFF cycles so far: about one a night
        self.temp_c = AMBIENT_C
        self.lamp_failed = False
        self.extra_load = 1.0     # >1 simulates tampering / over-consumption
        self.voltage_offset = 0.0
        self.stuck_on = False     # relay welded: switch-off ignored (day burning)
        self.cycling = False
        self.frozen_registers = None   # sensorStuck: the meter chip repeats one reading
        self.t = now
        self.advance(now)

    def set_switch(self, value: int) -> None:
        """Apply a write to the switch register; an off-to-on change counts one switch-on."""
        self._set_switch(1 if value or self.stuck_on else 0)

    def _set_switch(self, value: int) -> None:
        if value and not self.switch:
            self.switch_ons = (self.switch_ons + 1) & 0xFFFFFFFF
        self.switch = value

    def inject(self, kind: str, active: bool = True) -> None:
        """Start (or end) one of FAULT_KINDS."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose from {', '.join(FAULT_KINDS)}")
        if kind == "lampFailure":
            self.lamp_failed = active
        elif kind == "dayBurning":
            self.stuck_on = active
            if active:
                self._set_switch(1)
        elif kind == "cycling":
            self.cycling = active
        elif kind == "activePowerTooHigh":
            self.extra_load = 1.5 if active else 1.0
        elif kind in ("lampVoltageTooLow", "lampVoltageTooHigh"):
            self.voltage_offset = (-45.0 if kind == "lampVoltageTooLow" else 38.0) if active else 0.0
        elif kind == "sensorStuck":
            self.frozen_registers = self._registers() if active else None
        elif kind == "energyCounterDecrease" and active:
            self.energy_wh = max(0.0, self.energy_wh - 5000.0)   # a meter reset / rollback

    def set_dim(self, value: int) -> None:
        """Apply a write to the dim register (percent)."""
        self.dim = max(0, min(100, int(value)))

    @property
    def lit(self) -> bool:
        """Whether the lamp gives light."""
        if self.cycling and (self.t % CYCLE_PERIOD_S) >= CYCLE_PERIOD_S / 2:
            return False
        return bool(self.switch) and self.dim > 0 and not self.lamp_failed

    def advance(self, now: float) -> None:
        """Integrate the model up to now."""
        dt = max(0.0, now - self.t)
        self.t = now
        # voltage: mean-reverting random walk around 220 V
        mean = 220.0 + self.voltage_offset
        self.voltage += (mean - self.voltage) * min(1.0, dt / 60) + self.rng.gauss(0, 0.3)
        self.voltage = max(150.0, min(260.0, self.voltage))
        if self.lit:
            target = self.rated_power * self.dim / 100 * self.extra_load
            self.power = max(0.0, target * (1 + self.rng.gauss(0, 0.01)))
        elif self.switch:
            self.power = 0.3 + self.rng.uniform(0, 0.1)   # driver standby, lamp dead
        else:
            self.power = 0.0
        self.energy_wh += self.power * dt / 3600
        if self.lit:
            self.burn_h += dt / 3600
        settle = 1 - math.exp(-dt / THERMAL_TAU_S) if dt else 0.0
        target_t = AMBIENT_C + TEMP_RISE_PER_W * self.power
        self.temp_c += (target_t - self.temp_c) * settle

    def lamp_state(self) -> int:
        """0 off, 1 on, 2 fault."""
        if self.switch and self.lamp_failed:
            return 2
        return 1 if self.lit else 0

    def faults(self) -> int:
        """Fault bit field."""
        bits = FAULT_LAMP if self.lamp_failed else 0
        if self.temp_c > 85:
            bits |= FAULT_OVERTEMP
        if self.voltage > 250:
            bits |= FAULT_OVERVOLT
        if self.voltage < 190:
            bits |= FAULT_UNDERVOLT
        return bits

    def input_registers(self) -> list[int]:
        """Input registers 0..13 as the streetlight-generic profile lays them out."""
        if self.frozen_registers is not None:
            return list(self.frozen_registers)
        return self._registers()

    def _registers(self) -> list[int]:
        pf = 0.95 if self.lit else (0.3 if self.power else 0.0)
        current = self.power / (self.voltage * pf) if pf else 0.0
        energy = int(self.energy_wh) & 0xFFFFFFFF
        hours = int(self.burn_h) & 0xFFFFFFFF
        temp = int(round(self.temp_c * 10)) & 0xFFFF   # int16 two's complement
        return [self.lamp_state(), _u16(self.voltage * 10), _u16(current * 1000),
                _u16(self.power * 10), _u16(pf * 1000), energy >> 16, energy & 0xFFFF,
                temp, hours >> 16, hours & 0xFFFF, self.faults(), self.rated_power,
                self.switch_ons >> 16, self.switch_ons & 0xFFFF]


def _u16(x: float) -> int:
    return max(0, min(0xFFFF, int(round(x))))
