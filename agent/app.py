"""The agent: wires buses, schedulers, uplink and status under one supervisor."""

import asyncio
import logging
import time
from pathlib import Path

from agent import northbound, status
from agent.platform.clock import AgentClock
from agent.config.lighting import build_lighting
from agent.config.keys import load_key
from agent.config.models import GatewayConfig
from agent.field import build_field, build_serial_sensors
from agent.services.lighting import LightingService
from agent.services.arbiter import DirectArbiter
from agent.services.pushed_schedule import PushedSchedule
from agent.uplink.commands import CommandHandler
from agent.uplink.intake import CommandIntake
from agent.local.control import ControlServer
from agent.local.view import local_status
from agent.core.supervisor import Supervisor
from agent.store.lock import StateLock
from agent.stopping import bounded, quietly
from agent.store.outbox import ALARM, EVENT, NOISE, ROUTINE, Outbox
from agent.uplink.publisher import Publisher
from agent.uplink.mqtt import MqttUplink
from drivers.modbus.device import ModbusDevice

log = logging.getLogger("lentera")

DROP_EVENT_EVERY_S = 60.0    # at most one outbox_dropped event a minute (status has the total)


class Agent:
    """One gateway's agent: poll devices, publish telemetry and status."""

    def __init__(self, config: GatewayConfig, arbiter_factory=None, clock=None):
        self.config = config
        self.clock = clock or AgentClock(trust=config.gateway.clock)
        # (devices, {device id: scheduler}) -> arbiter; default: the lighting rules if
        # configured, else direct writes
        self.arbiter_factory = arbiter_factory
        self.arbiter = None
        self.lighting: LightingService | None = None
        self.watch = None                    # FaultWatch when anomaly.enabled
        self.commands: CommandHandler | None = None
        self.intake: CommandIntake | None = None
        self.buses: dict[str, object] = {}   # bus name -> ModbusRtuBus or ModbusTcpBus
        self.devices: dict[str, ModbusDevice] = {}
        self.schedulers: dict = {}           # bus name -> BusScheduler
        self.uplink: MqttUplink | None = None
        self.publisher: Publisher | None = None
        ob = config.outbox
        self.outbox = Outbox(ob.path, ob.max_mb, ob.max_age, ob.batch_window, ob.batch_max,
                             interfaces=northbound.interfaces(config))
        self.route = northbound.routes(config)   # kind of message -> interfaces mask
        self.outbox.on_dropped = self._on_dropped
        self.outbox.on_unencodable = lambda device, error: self.emit_event(
            device, "message_unencodable", EVENT, error=error)
        self.lock = StateLock(Path(ob.path).parent)
        self.schedule = PushedSchedule(config, self.state_file_corrupt)
        self.supervisor = Supervisor(log=log.warning)
        self.started = time.time()
        self._drop_event_at = 0.0
        self._drops_unreported = 0
        self.history = None                  # the console's local history (agent/store/history)
        self.recent_events = None            # the console's recent events (agent/local/events)
        self.talq = None                     # the TALQ interface's state (agent/talq/wiring.py)

    def _build_field(self) -> None:
        self.buses, self.devices, self.schedulers = build_field(self.config, self.on_reading,
                                                                status.wall_ms, log.warning)

    @property
    def seq(self) -> int:
        """The last seq committed to the outbox."""
        return self.outbox.db.seq if self.outbox.db else 0

    def on_reading(self, reading: dict) -> None:
        """A device poll finished: into the outbox (seq is assigned when it is committed)."""
        body = {"values": reading["values"], "quality": reading["quality"]}
        for key in ("age_s", "error"):
            if key in reading:
                body[key] = reading[key]
        self.outbox.put(self.uplink.topics.telemetry(reading["device"]), reading["device"],
                        ROUTINE, reading["ts"], body, self.route["telemetry"])
        if self.lighting is not None:
            self.lighting.observe(reading)
        if self.watch is not None:
            self.watch.observe(reading)
        if self.history is not None:
            self.history.observe(reading)

    def emit_event(self, device: str, event: str, priority: int = EVENT, **fields) -> None:
        """An event for `device` (or 'gateway'), delivered through the outbox.

        `ts` and `first_seen_ts`, when given, are epoch seconds (the pure core's unit); the
        message carries epoch milliseconds like every other message.
        """
        ts = fields.pop("ts", None)
        if fields.get("first_seen_ts") is not None:
            fields["first_seen_ts"] = int(fields["first_seen_ts"] * 1000)
        ts_ms = status.wall_ms() if ts is None else int(ts * 1000)
        self.outbox.put(self.uplink.topics.events(device), device, priority, ts_ms,
                        {"event": event, **fields}, self.route["events"])
        if self.recent_events is not None:
            self.recent_events.add(ts_ms, device, event, priority >= ALARM, fields)

    def send_ack(self, command_id, result: str, reason, details=None,
                 priority: int = ALARM) -> None:
        """Answer a city command on the ack topic, through the outbox (kept longest)."""
        body = {"id": command_id, "result": result, "reason": reason}
        if details is not None:
            body["details"] = details
        self.outbox.put(self.uplink.topics.ack, "gateway", priority, status.wall_ms(),
                        body, self.route["acks"])

    def state_file_corrupt(self, path, aside, exc) -> None:
        """A state file could not be loaded: it was moved aside; tell the city."""
        self.emit_event("gateway", "state_file_corrupt", EVENT, file=str(path),
                        moved_to=str(aside) if aside else None,
                        error=f"{type(exc).__name__}: {exc}"[:300])

    async def _snapshot(self) -> dict:
        snapshot = await self.full_status()
        self.uplink.publish_status("online", **snapshot)
        return snapshot

    def _build_arbiter(self, bus_of: dict):
        if self.arbiter_factory is not None:
            return self.arbiter_factory(self.devices, bus_of)
        controller = self.schedule.load() or build_lighting(self.config)
        if controller is None:
            return DirectArbiter(self.devices, bus_of, self.clock)
        lights = {d: dev for d, dev in self.devices.items()
                  if {"switch", "dim"} <= {p.name for p in dev.profile.points}}
        beside_outbox = Path(self.config.outbox.path).with_name     # the state dir's files
        self.lighting = LightingService(controller, self.clock, lights, bus_of, self.emit_event,
                                        trust_file=str(beside_outbox("clock-trust.json")),
                                        holds_file=str(beside_outbox("holds.json")),
                                        on_corrupt=self.state_file_corrupt)
        return self.lighting

    def _build_watch(self):
        """The FaultWatch, or None: numpy (~20 MB) is imported only when anomaly is enabled."""
        an = self.config.anomaly
        if not an.enabled:
            return None
        from agent.services.watch import FaultWatch, analog_channels
        lights = [d for d, dev in self.devices.items() if dev.profile.kind == "streetlight"]
        loc = self.config.gateway.location
        watch = FaultWatch(lights, analog_channels(self.devices), loc.lat, loc.lon,
                           self.emit_event, an.period, an.threshold, an.state_file,
                           wall=self.clock.wall)
        watch.on_corrupt = self.state_file_corrupt
        if watch.load():
            log.info("anomaly detection resumed from %s", an.state_file)
        return watch

    def command_groups(self) -> dict[str, list[str]]:
        """Groups a city command may name: `groups`, plus the lighting groups."""
        groups = dict(self.config.groups)
        for name, raw in (self.config.lighting or {}).get("groups", {}).items():
            groups.setdefault(name, [str(d) for d in raw["devices"]])
        return groups

    def _build_commands(self, arbiter) -> CommandHandler:
        cmd = self.config.commands
        key = load_key(cmd.key_file) if cmd.key_file else None
        handler = CommandHandler(self.config.gateway.id, cmd.max_ttl, self.command_groups(),
                                 set(self.devices), arbiter, self.outbox, self.send_ack,
                                 self._snapshot, lambda: int(self.clock.wall() * 1000),
                                 self.clock.trusted)
        self.intake = CommandIntake(key, handler.submit, lambda cid, reason: self.send_ack(
            cid, "refused", reason, priority=NOISE))
        return handler

    def _on_dropped(self, rows: int, total: int) -> None:
        self._drops_unreported += rows
        if time.monotonic() - self._drop_event_at >= DROP_EVENT_EVERY_S:
            self._drop_event_at = time.monotonic()
            self.emit_event("gateway", "outbox_dropped", dropped=self._drops_unreported,
                            dropped_total=total, max_mb=self.config.outbox.max_mb)
            self._drops_unreported = 0

    def status(self) -> dict:
        """The status snapshot published (retained) on the status topic."""
        return status.snapshot(self)

    async def full_status(self) -> dict:
        """status() plus the outbox and publisher figures (needs the SQLite thread)."""
        return await status.full_snapshot(self)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until stop is set, then shut everything down cleanly (within ~5 s)."""
        self.lock.acquire()       # before the outbox: a second agent stops here
        recovered = await self.outbox.open()
        try:
            self._wire(recovered)
            self._start_tasks()
            log.info("agent %s running: %d device(s) on %d bus(es), publishing to %s",
                     self.config.gateway.id, len(self.devices), len(self.schedulers),
                     self.config.uplink.mqtt.url)
            await stop.wait()
            log.info("stopping")
        finally:
            await self._shutdown()

    def _wire(self, recovered) -> None:
        self._build_field()
        self.uplink = MqttUplink(self.config.uplink.mqtt, self.config.gateway.id)
        # never more than paho's inflight window: paho then never queues for us
        self.publisher = Publisher(self.outbox.consumer("json"), self.uplink,
                                   window=self.config.uplink.mqtt.inflight)
        if recovered:
            self.emit_event("gateway", "outbox_recovered", detail=recovered)
        bus_of = {d.id: self.schedulers[d.bus] for d in self.config.devices}
        self.arbiter = self._build_arbiter(bus_of)
        self.watch = self._build_watch()
        if self.lighting is not None and self.watch is not None:
            self.lighting.on_commanded = self.watch.note_command
        self.commands = self._build_commands(self.arbiter)
        if self.lighting is not None:
            self.commands.push_schedule = lambda lighting: self.schedule.push(lighting,
                                                                               self.lighting)
        self.uplink.on_command = lambda topic, payload: self.intake.submit(payload)
        self.uplink.status_extra.update(self.status())

    def _start_tasks(self) -> None:
        self.uplink.start()
        start = self.supervisor.start
        start("outbox.commit", self.outbox.commit_loop)
        start("uplink.publish", self.publisher.run_loop)
        start("commands.run", self.commands.run_loop)
        if isinstance(self.arbiter, DirectArbiter):
            start("commands.expire", self.arbiter.run_loop)
        if self.lighting is not None:
            start("lighting.step", self.lighting.run_loop)
        # the crew's socket also answers `lentera status`, with or without lighting
        control = ControlServer(self.config.control.socket, self.lighting,
                                self.emit_event, self.clock.wall, status=lambda: local_status(self))
        start("control.serve", control.serve_loop)
        if self.watch is not None:
            start("anomaly.watch", self.watch.run_loop)
        if self.config.console.listen:
            self._start_console(start)
        sensors = build_serial_sensors(self.config, self.on_reading, status.wall_ms)
        for name, service in sensors.items():
            start(f"serial.{name}.read", service.run_loop)
        for name, scheduler in self.schedulers.items():
            start(f"bus.{name}.poll", scheduler.run_loop)
        start("status.publish", lambda: status.publish_loop(self))
        from agent.sparkplug.wiring import start_sparkplug    # docs/sparkplug.md
        self.sparkplug = start_sparkplug(self)
        if self.config.metrics.listen:
            from agent.local.metrics import MetricsServer, agent_figures
            metrics = MetricsServer(self.config.metrics.listen, lambda: agent_figures(self))
            start("metrics.serve", metrics.serve_loop)
        if self.config.talq is not None:      # the TALQ gateway API (docs/talq.md)
            from agent.talq.wiring import start_talq
            self.talq = start_talq(self, start)
        self._start_notify()

    def _start_notify(self) -> None:
        """Type=notify under systemd: READY after the first polls, WATCHDOG while progressing."""
        from agent.platform.sdnotify import Notifier, agent_watch
        self.notifier = Notifier.from_env()
        if self.notifier.enabled:
            longest = max([d.poll for d in self.config.devices]
                          + [b.backoff_max for b in self.config.buses.values()])
            self.supervisor.start("systemd.notify", agent_watch(
                self.notifier, self.schedulers, self.supervisor, 2 * longest + 60))

    def _start_console(self, start) -> None:
        """The crew's web console; a file it cannot read disables it, never the agent."""
        from agent.local.boot import start_console
        start_console(self, start)

    async def _shutdown(self) -> None:
        """Every step bounded, and run even if an earlier one failed: the whole stop stays
        under ~10 s however slow the card (the CLI's hard stop is at 12 s). The outbox,
        which holds what was accepted, is closed before the anomaly state is saved."""
        if getattr(self, "notifier", None) is not None:
            self.notifier.send("STOPPING=1")
        await self.supervisor.stop(timeout=2.0)
        for closing in [c for c in (self.arbiter, *self.buses.values()) if c is not None]:
            quietly(closing.close, "closing " + type(closing).__name__)
        if self.uplink is not None:
            await bounded(self.uplink.stop(timeout=1.0), 2.5, "the MQTT disconnect")
        closed = await bounded(self.outbox.close(), 3.0, "closing the outbox")
        if self.watch is not None:
            await bounded(self.watch.save_async(), 2.5, "saving the anomaly state")
        if closed:      # else its thread may still commit: the lock goes with the process
            quietly(self.lock.release, "releasing the state lock")
        log.info("stopped")

