"""A simulated street-light site: N controllers served over Modbus by pymodbus.

The simulator is a product feature (installers and the demo use it), and the
test suite's field peer: tests control it in-process (dead units, faults) and
read its request counters.
"""

import asyncio
import time
from collections import Counter

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.sim.streetlight import StreetLightModel

HOLDING_FCS = {3, 6, 16, 23}
INPUT_REGISTERS = 12


class SimulatedSite:
    """Street-light controllers (unit ids first_unit..first_unit+n-1) and their physics."""

    def __init__(self, lights: int, first_unit: int = 1, seed: int = 0, clock=time.time):
        self.clock = clock
        now = clock()
        self.lights = {u: StreetLightModel(u, now, seed)
                       for u in range(first_unit, first_unit + lights)}
        self.dead: set[int] = set()
        self.requests: Counter = Counter()      # (unit, function code) -> count
        self._server = None

    def light(self, unit: int) -> StreetLightModel:
        """The model behind a unit id."""
        return self.lights[unit]

    def set_dead(self, unit: int, dead: bool = True) -> None:
        """Make a unit stop answering (or answer again)."""
        (self.dead.add if dead else self.dead.discard)(unit)

    def fail_lamp(self, unit: int, failed: bool = True) -> None:
        """Inject a lamp failure: the unit draws no power while switched on."""
        self.lights[unit].lamp_failed = failed

    def sim_devices(self) -> list[SimDevice]:
        """pymodbus device descriptions with our physics bound as the access action."""
        devices = []
        for unit in self.lights:
            simdata = (
                [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                [SimData(0, values=[1, 100], datatype=DataType.REGISTERS)],
                [SimData(0, values=[0] * INPUT_REGISTERS, datatype=DataType.REGISTERS)],
            )
            devices.append(SimDevice(unit, simdata=simdata, action=self._action_for(unit)))
        return devices

    def _action_for(self, unit: int):
        async def action(fc, start, address, count, registers, set_values):
            return self._on_access(unit, fc, start, address, count, registers, set_values)
        return action

    def _on_access(self, unit, fc, start, address, count, registers, set_values):
        if unit in self.dead:
            raise NoSuchIdException(f"unit {unit} simulated dead")  # no reply at all
        self.requests[(unit, fc)] += 1
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
        self._server = ModbusTcpServer(self.sim_devices(), address=(host, port),
                                       ignore_missing_devices=True)
        try:
            await self._server.serve_forever()
        finally:
            await self._server.shutdown()
