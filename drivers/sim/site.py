"""A simulated street-light site: N controllers served over Modbus by pymodbus.

The simulator is a product feature (installers and the demo use it), and the
test suite's field peer: tests control it in-process (dead units, faults) and
read its request counters. Besides the controllers it can hold a cabinet energy
meter (SDM120/SDM630) and a lux sensor, and serve everything over Modbus TCP or
over Modbus RTU on a timed pseudo-terminal wire (drivers/sim/wire.py).
"""

import asyncio
import time
from collections import Counter

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.sim.meters import EnergyMeterModel, LuxSensorModel
from drivers.sim.streetlight import StreetLightModel
from drivers.sim.wire import Wire

HOLDING_FCS = {3, 6, 16, 23}
INPUT_REGISTERS = 14


class SimulatedSite:
    """Street-light controllers (unit ids first_unit..first_unit+n-1) and their physics."""

    def __init__(self, lights: int, first_unit: int = 1, seed: int = 0, clock=time.time,
                 meter: str | None = None, meter_unit: int | None = None,
                 lux_unit: int | None = None):
        self.clock = clock
        now = clock()
        self.lights = {u: StreetLightModel(u, now, seed)
                       for u in range(first_unit, first_unit + lights)}
        self.meter = self.lux = None
        self.meter_unit, self.lux_unit = meter_unit, lux_unit
        if meter is not None:
            self.meter_unit = meter_unit or first_unit + lights
            self.meter = EnergyMeterModel(meter, now, list(self.lights.values()), seed)
        if lux_unit is not None:
            self.lux = LuxSensorModel(self._local_hour, seed)
        taken = [u for u in (self.meter_unit if meter else None, lux_unit) if u is not None]
        clash = [u for u in taken if u in self.lights] + (
            taken[:1] if len(taken) == 2 and taken[0] == taken[1] else [])
        if clash:
            raise ValueError(f"unit {clash[0]} is used twice; give the meter and the lux "
                             "sensor unit ids outside the lights' range")
        self.dead: set[int] = set()
        self.labels: list[dict] = []            # ground truth of injected faults
        self.requests: Counter = Counter()      # (unit, function code) -> count
        self.wire: Wire | None = None           # set while serving RTU
        self.answer_delay_s = 0.0               # > 0: a slow device or gateway (tests)
        self._server = None

    def _local_hour(self) -> float:
        t = time.localtime(self.clock())
        return t.tm_hour + t.tm_min / 60 + t.tm_sec / 3600

    def set_lux(self, lux: float | None) -> None:
        """Pin the lux sensor's reading (None: follow the day/night curve)."""
        self.lux.set_lux(lux)

    def light(self, unit: int) -> StreetLightModel:
        """The model behind a unit id."""
        return self.lights[unit]

    def set_dead(self, unit: int, dead: bool = True) -> None:
        """Make a unit stop answering (or answer again)."""
        (self.dead.add if dead else self.dead.discard)(unit)

    def fail_lamp(self, unit: int, failed: bool = True) -> None:
        """Inject a lamp failure: the unit draws no power while switched on."""
        self.inject(unit, "lampFailure", failed)

    def inject(self, unit: int, kind: str, active: bool = True) -> None:
        """Start or end a fault (drivers.sim.streetlight.FAULT_KINDS); labelled in self.labels."""
        if unit not in self.lights:
            raise ValueError(f"unit {unit} is not a simulated light (1..{len(self.lights)})")
        self.lights[unit].inject(kind, active)
        now = self.clock()
        if active:
            self.labels.append({"unit": unit, "kind": kind, "start": now, "end": None})
            return
        for label in self.labels:
            if label["unit"] == unit and label["kind"] == kind and label["end"] is None:
                label["end"] = now

    def sim_devices(self, absent_reply: ExcCodes | None = None) -> list[SimDevice]:
        """pymodbus device descriptions with our physics bound as the access action.

        Unit ids nobody simulates stay silent (absent_reply None: an RS-485 line) or
        get that exception (a TCP gateway answers 0x0B for a unit behind it that
        does not respond).
        """
        devices = [self._absent_device(absent_reply)]
        for unit in self.lights:
            simdata = (
                [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                [SimData(0, values=[1, 100], datatype=DataType.REGISTERS)],
                [SimData(0, values=[0] * INPUT_REGISTERS, datatype=DataType.REGISTERS)],
            )
            devices.append(SimDevice(unit, simdata=simdata, action=self._action_for(unit)))
        for unit, model in ((self.meter_unit, self.meter), (self.lux_unit, self.lux)):
            if model is not None:
                devices.append(self._profile_device(unit, model))
        return devices

    @staticmethod
    def _absent_device(reply: ExcCodes | None) -> SimDevice:
        async def absent(fc, start, address, count, registers, set_values):
            if reply is None:
                raise NoSuchIdException("no such unit")   # the server sends nothing
            return reply
        # id 0 catches every unit id not simulated; one block spans all addresses so
        # the action runs before pymodbus's own address check
        return SimDevice(0, simdata=[SimData(0, count=65535, datatype=DataType.REGISTERS)],
                         action=absent)

    def _profile_device(self, unit: int, model) -> SimDevice:
        """A device whose registers are rendered from its profile on every access."""
        def block(table):
            size = model.registers.sizes[table]
            if not size:      # a table the profile does not use: every read is rejected
                return [SimData(0, count=16, datatype=DataType.INVALID)]
            return [SimData(0, values=[0] * size, datatype=DataType.REGISTERS)]
        simdata = ([SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                   [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                   block("holding"), block("input"))
        return SimDevice(unit, simdata=simdata, action=self._action_for(unit))

    def _action_for(self, unit: int):
        async def action(fc, start, address, count, registers, set_values):
            if self.answer_delay_s:
                await asyncio.sleep(self.answer_delay_s)
            return self._on_access(unit, fc, start, address, count, registers, set_values)
        return action

    def _on_access(self, unit, fc, start, address, count, registers, set_values):
        if unit in self.dead:
            raise NoSuchIdException(f"unit {unit} simulated dead")  # no reply at all
        self.requests[(unit, fc)] += 1
        if unit not in self.lights:
            return self._on_profile_access(unit, fc, start, registers, set_values)
        model = self.lights[unit]
        model.advance(self.clock())
        if fc in HOLDING_FCS and set_values is not None:
            return self._write_holding(model, address, set_values)
        if fc in HOLDING_FCS:
            registers[0 - start] = model.switch
            registers[1 - start] = model.dim
        else:
            registers[0 - start:INPUT_REGISTERS - start] = model.input_registers()
        return None

    def _on_profile_access(self, unit, fc, start, registers, set_values):
        if set_values is not None:
            return ExcCodes.ILLEGAL_ADDRESS       # meters and sensors are read-only here
        now = self.clock()
        if unit == self.meter_unit:
            for light in self.lights.values():
                light.advance(now)
            self.meter.advance(now)
            model = self.meter
        else:
            model = self.lux
        table = "holding" if fc in HOLDING_FCS else "input"
        words = model.registers.render(table, model.values())
        registers[0 - start:len(words) - start] = words
        return None

    @staticmethod
    def _write_holding(model, address, values):
        for offset, value in enumerate(values):
            reg = address + offset
            if reg == 0 and value in (0, 1):
                model.set_switch(value)
            elif reg == 1 and 0 <= value <= 100:
                model.set_dim(value)
            else:
                return ExcCodes.ILLEGAL_VALUE
        return None

    async def serve_tcp(self, host: str = "127.0.0.1", port: int = 5020) -> None:
        """Serve Modbus TCP until cancelled."""
        self._server = ModbusTcpServer(self.sim_devices(ExcCodes.GATEWAY_NO_RESPONSE),
                                       address=(host, port),
                                       ignore_missing_devices=True)
        try:
            await self._server.serve_forever()
        finally:
            await self._server.shutdown()

    async def serve_rtu(self, path: str, baudrate: int = 9600, parity: str = "N",
                        on_ready=None, turnaround_s: float = 0.0) -> None:
        """Serve Modbus RTU on a timed pty wire until cancelled; `path` links to its client end.

        on_ready(wire) is called once the wire and the server are up (the CLI prints
        the pty name from it, tests take the wire for fault injection).
        """
        wire = Wire(baudrate, parity, turnaround_s=turnaround_s).start(link=path)
        self.wire = wire
        server = ModbusSerialServer(self.sim_devices(), framer=FramerType.RTU,
                                    port=wire.device_port, baudrate=baudrate,
                                    parity="N",     # ptys refuse parity; the wire judges it
                                    ignore_missing_devices=True)
        try:
            await server.serve_forever(background=True)
            if on_ready is not None:
                on_ready(wire)
            await asyncio.Event().wait()       # until cancelled
        finally:
            await server.shutdown()
            wire.close()
            self.wire = None
