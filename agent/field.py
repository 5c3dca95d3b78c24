"""The field side of the agent, built from the config: buses, devices, their poll schedulers,
and the serial sensors."""

import time

from agent.config.models import GatewayConfig, RtuBus
from agent.core.bus import BusScheduler, PollTarget
from drivers.modbus.device import ModbusDevice
from drivers.modbus.profile import load_profile
from drivers.modbus.tcp import ModbusTcpBus


def build_buses(config: GatewayConfig) -> dict:
    """Bus name -> ModbusRtuBus (our RTU transaction layer) or ModbusTcpBus (our MBAP client)."""
    buses = {}
    for name, bus_cfg in config.buses.items():
        if isinstance(bus_cfg, RtuBus):
            from drivers.modbus.rtu import ModbusRtuBus   # pyserial only where RTU is used
            buses[name] = ModbusRtuBus(name, bus_cfg.port, baudrate=bus_cfg.baudrate,
                                       parity=bus_cfg.parity, stopbits=bus_cfg.stopbits,
                                       timeout_s=bus_cfg.timeout_ms / 1000,
                                       late_window_s=bus_cfg.late_reply_window)
        else:
            # one request per connection (drivers/modbus/tcp.py says why)
            buses[name] = ModbusTcpBus(name, bus_cfg.host, bus_cfg.port,
                                       timeout_s=bus_cfg.timeout_ms / 1000,
                                       max_in_flight=bus_cfg.max_in_flight,
                                       connections=bus_cfg.connections)
    return buses


def build_field(config: GatewayConfig, on_reading, wall_ms, log) -> tuple[dict, dict, dict]:
    """(buses, devices, schedulers): every configured device on its bus, polled by its scheduler."""
    buses = build_buses(config)
    devices: dict[str, ModbusDevice] = {}
    targets: dict[str, list[PollTarget]] = {name: [] for name in buses}
    for dev in config.devices:
        bus_cfg = config.buses[dev.bus]
        device = ModbusDevice(dev.id, buses[dev.bus], dev.unit, load_profile(dev.profile),
                              max_gap=bus_cfg.max_gap)
        devices[dev.id] = device
        targets[dev.bus].append(PollTarget(dev.id, dev.poll, device.read))
    schedulers = {}
    for name, bus_targets in targets.items():
        if not bus_targets:
            continue
        bus_cfg = config.buses[name]
        schedulers[name] = BusScheduler(
            name, bus_targets, on_reading, time.monotonic, wall_ms,
            retries=bus_cfg.retries, backoff_max=bus_cfg.backoff_max,
            max_in_flight=getattr(bus_cfg, "max_in_flight", 1), log=log)
    return buses, devices, schedulers


def build_serial_sensors(config: GatewayConfig, on_reading, wall_ms) -> dict:
    """Sensor id -> SerialSensorService for every configured serial sensor."""
    if not config.serial_sensors:
        return {}
    # imported only when used: pyserial and the parsers cost ~3 MB of a Pi's memory
    from agent.services.sensors import SerialSensorService
    from drivers.serial.line import SerialSensorConfig
    services = {}
    for s in config.serial_sensors:
        cfg = SerialSensorConfig(name=s.id, kind=s.kind, port=s.port, baudrate=s.baudrate,
                                 parity=s.parity, stopbits=s.stopbits,
                                 silence_timeout_s=s.silence_timeout, pattern=s.pattern,
                                 scales=dict(s.scales), terminator=s.terminator,
                                 max_line_len=s.max_line_len)
        services[s.id] = SerialSensorService(cfg, s.publish_every, on_reading, wall_ms)
    return services
