"""The field side of the agent, built from the config: buses, devices, their poll schedulers,
and the serial sensors."""

import asyncio
import time

from agent.config.models import GatewayConfig, RtuBus
from agent.core.bus import BusScheduler, PollTarget
from agent.loopsync import LoopEvent, LoopLock
from drivers.modbus.device import ModbusDevice
from drivers.modbus.profile import load_profile
from drivers.modbus.tcp import ModbusTcpBus


TICK_MAX_S = 0.02      # polls due within this share one wake-up (a 1 s period: 2 % jitter)


async def wait_event_timer(event, timeout: float) -> bool:
    """agent.core.bus.wait_event for CPython, without wait_for: on 3.11 that makes a task per
    wait and tears it down on every timeout, the usual outcome for a poll scheduler. A timer sets
    the event instead; only the bus's picking worker waits on it, and it looks again after any
    wake-up, so the timer's set is one more wake-up. A cancel arrives directly (no gh-86296).
    A LoopEvent's own loop is used: no get_running_loop() (a getpid on 3.11) per wait."""
    if not event.is_set():
        loop = getattr(event, "loop", None) or asyncio.get_running_loop()
        handle = loop.call_later(max(0.0, timeout), event.set)
        try:
            await event.wait()
        finally:
            handle.cancel()
    return True


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
            max_in_flight=getattr(bus_cfg, "max_in_flight", 1), log=log, wait=wait_event_timer,
            tick=min(TICK_MAX_S, min(t.period for t in bus_targets) / 50),
            lock=LoopLock, event=LoopEvent)
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
