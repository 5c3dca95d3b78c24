"""A device whose register map has a hole: reads across it are rejected (illegal address)."""

from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.modbus.profile import Profile

HOLEY_PROFILE = Profile.model_validate({
    "model": "holey", "points": [
        {"name": "a", "table": "input", "address": 0, "type": "uint16"},
        {"name": "b", "table": "input", "address": 3, "type": "uint16"},
        {"name": "c", "table": "input", "address": 10, "type": "uint32"},
    ]})


def holey_device(action) -> SimDevice:
    """Unit 1: input registers 0..3 and 10..11 exist; 4..9 are a hole the device rejects."""
    return SimDevice(1, simdata=(
        [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
        [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
        [SimData(0, values=[0], datatype=DataType.REGISTERS)],
        [SimData(0, values=[7, 0, 0, 9], datatype=DataType.REGISTERS),
         SimData(10, values=[1, 2], datatype=DataType.REGISTERS)]), action=action)
