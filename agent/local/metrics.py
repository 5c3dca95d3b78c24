"""Prometheus metrics (prometheus-client) from the agent's one status snapshot, on a small listener.

The figures come from agent/status.py's snapshot (what the status topic publishes) plus the
per-device poll counters, so metrics never disagree with the status topic. They are served on
their own listener (`metrics: {listen: HOST:PORT}`): a bounded, asyncio-native GET /metrics,
nothing else; when the console's HTTP listener exists, `render()` can be mounted there instead.
"""

import asyncio
import logging
import os
import resource

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

log = logging.getLogger("lentera.metrics")
MAX_REQUEST = 8192          # bytes of request head we read before answering
READ_TIMEOUT_S = 5.0
# the classic text format every Prometheus scrapes (newer clients advertise 1.0.0 by default)
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


def process_figures() -> dict:
    """This process's resident memory (bytes) and CPU time (seconds)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = os.times()
    return {"rss_bytes": rss, "cpu_s": t.user + t.system}


async def agent_figures(agent) -> dict:
    """The full status snapshot plus what only metrics need (per-device polls, clock, process)."""
    out = await agent.full_status()
    out["devices"] = {t.device_id: {"bus": bus, "polls": t.polls, "errors": t.errors,
                                    "failing": bool(t.failures)}
                      for bus, s in agent.schedulers.items() for t in s.targets}
    out["anomaly_events"] = agent.watch.events_sent if agent.watch is not None else 0
    out["clock_trusted"] = bool(agent.clock.trusted())
    out["process"] = process_figures()
    return out


def _family(kind, name, doc, labels=()):
    cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    return cls(f"lentera_{name}", doc, labels=list(labels))


def families(s: dict) -> list:
    """Metric families from a snapshot (agent_figures()); missing parts are simply absent."""
    out = []

    def add(kind, name, doc, rows, labels=()):
        fam = _family(kind, name, doc, labels)
        for label_values, value in rows:
            fam.add_metric(list(label_values), float(value))
        out.append(fam)

    _field(add, s)
    _delivery(add, s)
    _sparkplug(add, s.get("sparkplug"))
    _agent(add, s)
    return out


def _field(add, s: dict) -> None:
    """Devices and buses."""
    buses = s.get("buses", {})
    devices = s.get("devices", {})
    add("counter", "device_polls", "Polls of a device (good or failed)",
        [((d["bus"], n), d["polls"]) for n, d in devices.items()], ("bus", "device"))
    add("counter", "device_poll_errors", "Failed polls of a device",
        [((d["bus"], n), d["errors"]) for n, d in devices.items()], ("bus", "device"))
    add("gauge", "device_failing", "1 while a device's polls fail",
        [((d["bus"], n), d["failing"]) for n, d in devices.items()], ("bus", "device"))
    add("gauge", "bus_load", "Busy fraction of a bus (smoothed)",
        [((n,), b["load"]) for n, b in buses.items()], ("bus",))
    add("gauge", "bus_demand", "Poll demand on a bus; > 1 is over-subscribed",
        [((n,), b["demand"]) for n, b in buses.items()], ("bus",))
    add("gauge", "bus_oversubscribed", "1 while a bus keeps < 99 % of its configured poll rate",
        [((n,), int(bool(b.get("oversubscribed")))) for n, b in buses.items()], ("bus",))
    add("gauge", "bus_polls_per_second", "Polls a second a bus achieves (of its healthy devices)",
        [((n,), b.get("polls_per_s", 0)) for n, b in buses.items()], ("bus",))
    add("counter", "bus_line_errors", "Line errors on a bus by kind",
        [((n, k), v) for n, b in buses.items() for k, v in b.get("line", {}).items()
         if not isinstance(v, dict)], ("bus", "kind"))
    add("counter", "device_late_replies", "RTU replies that came after their timeout (dropped)",
        [((n, d), v) for n, b in buses.items()
         for d, v in b.get("line", {}).get("late_replies", {}).items()], ("bus", "device"))


def _delivery(add, s: dict) -> None:
    """Outbox, uplink and city commands."""
    outbox = s.get("outbox", {})
    if outbox:
        add("gauge", "outbox_backlog", "Messages waiting in the outbox", [((), outbox["backlog"])])
        add("gauge", "outbox_backlog_bytes", "Bytes in the outbox",
            [((), outbox.get("backlog_bytes", 0))])
        add("gauge", "outbox_oldest_age_seconds", "Age of the oldest waiting message",
            [((), outbox.get("oldest_age_s", 0))])
        add("counter", "outbox_dropped", "Messages dropped (size or age cap)",
            [((), outbox.get("dropped", 0))])
    uplink = s.get("uplink", {})
    if uplink:
        add("counter", "uplink_sent", "Messages published", [((), uplink.get("sent", 0))])
        add("counter", "uplink_acked", "Messages acknowledged by the broker",
            [((), uplink.get("acked", 0))])
        add("counter", "uplink_connects", "Broker connections made",
            [((), uplink.get("connects", 0))])
    add("counter", "commands", "City commands by result",
        [((k,), v) for k, v in s.get("commands", {}).items() if not isinstance(v, dict)],
        ("result",))
    add("counter", "commands_rejected", "Messages on the command topic refused before parsing "
        "or for their signature, by reason",
        [((k,), v) for k, v in s.get("commands", {}).get("rejected", {}).items()], ("reason",))


# the Sparkplug edge node's counters (agent/sparkplug/service.EdgeNode.status()): name -> doc
SPARKPLUG_COUNTERS = {
    "sessions": "MQTT sessions the edge node started",
    "births": "NBIRTHs sent (each followed by the DBIRTHs)",
    "rebirths": "Rebirths served on a host's Node Control/Rebirth (requests beyond one per "
                "rebirth_min_interval are merged)",
    "rebirth_requests": "Node Control/Rebirth requests received",
    "commands_refused": "NCMD/DCMD refused: malformed, not allowed, or over the rate bound",
    "writes": "DCMD writes passed to the arbitration",
    "ddata": "DDATA messages sent (live and historical)",
    "historical": "DDATA messages sent as history (is_historical)",
    "ddeath": "DDEATHs sent for devices that stopped answering",
    "state_ignored": "Primary host STATE messages ignored (from the past, or malformed)",
    "barriers": "Delivery barriers (UNSUBSCRIBE/UNSUBACK) sent",
    "acked": "Outbox rows the broker confirmed for Sparkplug",
}


def _sparkplug(add, sp: dict | None) -> None:
    """The edge node's counters, when it is configured."""
    if not sp:
        return
    for key, doc in SPARKPLUG_COUNTERS.items():
        add("counter", f"sparkplug_{key}", doc, [((), sp.get(key, 0))])
    add("gauge", "sparkplug_host_online", "1 while the primary host's STATE says online",
        [((), int(bool(sp.get("host_online"))))])
    add("gauge", "sparkplug_bdseq", "The bdSeq of the current session", [((), sp.get("bdseq", 0))])


def _agent(add, s: dict) -> None:
    """Rule decisions, tasks, anomalies, clock and the process."""
    lighting = s.get("lighting", {})
    add("gauge", "lights_by_source", "Lights whose output was last decided by each source",
        [((k,), v) for k, v in lighting.get("sources", {}).items()], ("source",))
    add("counter", "task_restarts", "Restarts of a supervised task",
        [((k,), v) for k, v in s.get("tasks", {}).items()], ("task",))
    add("counter", "anomaly_events", "Anomaly and fault events raised",
        [((), s.get("anomaly_events", 0))])
    if "clock_trusted" in s:
        add("gauge", "clock_trusted", "1 when the wall clock is trusted for schedules",
            [((), s["clock_trusted"])])
    proc = s.get("process", {})
    if proc:
        add("gauge", "process_resident_memory_bytes", "Resident memory", [((), proc["rss_bytes"])])
        add("counter", "process_cpu_seconds", "CPU time used", [((), proc["cpu_s"])])
    add("gauge", "uptime_seconds", "Agent uptime", [((), s.get("uptime_s", 0))])


class _Snapshot:
    def __init__(self, snapshot: dict):
        self.snapshot = snapshot

    def collect(self):
        return families(self.snapshot)


def registry_from(snapshot: dict) -> CollectorRegistry:
    """A CollectorRegistry holding one snapshot's figures."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(snapshot))
    return registry


def render(snapshot: dict) -> bytes:
    """The Prometheus text exposition of a snapshot."""
    return generate_latest(registry_from(snapshot))


class MetricsServer:
    """GET /metrics on HOST:PORT; figures from `figures()` (a coroutine function) per scrape."""

    def __init__(self, listen: str, figures):
        host, _, port = listen.rpartition(":")
        self.host, self.port = host, int(port)
        self.figures = figures
        self.scrapes = 0

    async def serve_loop(self) -> None:
        """Serve until cancelled."""
        server = await asyncio.start_server(self._handle, self.host, self.port,
                                            limit=MAX_REQUEST)
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)
        try:
            await asyncio.Event().wait()          # until cancelled
        finally:
            server.close()
            await server.wait_closed()

    async def _handle(self, reader, writer) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            parts = head.split(b"\r\n", 1)[0].split()
            if len(parts) == 3 and parts[0] == b"GET" and parts[1].split(b"?")[0] == b"/metrics":
                self.scrapes += 1
                body = render(await self.figures())
                await self._answer(writer, b"200 OK", body, CONTENT_TYPE)
            else:
                await self._answer(writer, b"404 Not Found", b"only GET /metrics here\n",
                                   b"text/plain")
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            pass                                  # a slow, cut or oversized request: just close
        finally:
            writer.close()

    @staticmethod
    async def _answer(writer, status: bytes, body: bytes, ctype: bytes) -> None:
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype +
                     b"\r\nContent-Length: " + str(len(body)).encode() +
                     b"\r\nConnection: close\r\n\r\n" + body)
        await asyncio.wait_for(writer.drain(), READ_TIMEOUT_S)

