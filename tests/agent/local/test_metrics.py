"""Prometheus metrics: the running agent's figures on its own listener, parsed as Prometheus does."""

import asyncio
import socket

from prometheus_client.parser import text_string_to_metric_families

from agent.app import Agent
from agent.config.loading import load_config
from agent.local.metrics import render
from tests.support.broker import free_port
from tests.support.gateway_files import write_gateway


class ProbeAgent(Agent):
    """The agent, telling the test when every device has been polled twice."""

    def __init__(self, *args, devices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.want = {d: 2 for d in devices}
        self.polled = asyncio.Event()

    def on_reading(self, reading):
        super().on_reading(reading)
        left = self.want.get(reading["device"])
        if left:
            self.want[reading["device"]] = left - 1
        if not any(self.want.values()):
            self.polled.set()


def http(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def samples(body: str) -> dict:
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_endpoint_reports_polls_errors_backlog_and_process(tmp_path, site_factory):
    site = site_factory(3)                  # units 1-3 answer; L-004 has nobody behind it
    port = free_port()
    cfg = load_config(write_gateway(tmp_path / "gateway.yaml", f"mqtt://127.0.0.1:{free_port()}",
                                    site.port, 4, poll="200ms",
                                    extra=f'metrics: {{listen: "127.0.0.1:{port}"}}\n'))

    async def scenario():
        agent = ProbeAgent(cfg, devices=[f"L-00{i}" for i in range(1, 5)])
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        try:
            await asyncio.wait_for(agent.polled.wait(), 20)
            raw = await asyncio.to_thread(http, port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            other = await asyncio.to_thread(http, port, b"GET /secret HTTP/1.1\r\n\r\n")
            huge = await asyncio.to_thread(http, port, b"GET /metrics HTTP/1.1\r\nX: "
                                           + b"a" * 20000 + b"\r\n\r\n")
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
        return raw, other, huge

    raw, other, huge = asyncio.run(scenario())
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"text/plain; version=0.0.4" in head
    got = samples(body.decode())
    lan = ("bus", "lan")
    assert got[("lentera_device_polls_total", (lan, ("device", "L-001")))] >= 2
    assert got[("lentera_device_poll_errors_total", (lan, ("device", "L-001")))] == 0
    assert got[("lentera_device_poll_errors_total", (lan, ("device", "L-004")))] >= 1
    assert got[("lentera_device_failing", (lan, ("device", "L-004")))] == 1
    assert 0 <= got[("lentera_bus_load", (lan,))] <= 1
    assert ("lentera_bus_line_errors_total", (lan, ("kind", "timeouts"))) in got
    assert got[("lentera_outbox_backlog", ())] >= 1          # no broker: telemetry waits
    assert got[("lentera_process_resident_memory_bytes", ())] > 10e6
    assert got[("lentera_process_cpu_seconds_total", ())] > 0
    assert ("lentera_clock_trusted", ()) in got and ("lentera_anomaly_events_total", ()) in got
    assert ("lentera_task_restarts_total", (("task", "bus.lan.poll"),)) in got
    assert other.startswith(b"HTTP/1.1 404")
    assert huge == b""                                     # oversized head: closed unanswered


def test_render_is_valid_exposition_for_a_bare_snapshot():
    text = render({"buses": {}, "tasks": {}, "uptime_s": 5}).decode()
    got = samples(text)
    assert got[("lentera_uptime_seconds", ())] == 5


def test_metrics_carry_the_sparkplug_nodes_counters(tmp_path, site_factory, broker):
    site = site_factory(2)
    port = free_port()
    cfg = load_config(write_gateway(
        tmp_path / "gateway.yaml", f"mqtt://127.0.0.1:{broker.port}", site.port, 2, poll="200ms",
        extra=f'metrics: {{listen: "127.0.0.1:{port}"}}\n'
              "sparkplug: {enabled: true, group_id: city}\n"))

    async def scenario():
        agent = ProbeAgent(cfg, devices=["L-001", "L-002"])
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        try:
            await asyncio.wait_for(agent.polled.wait(), 20)
            async with asyncio.timeout(10):       # the node's first barrier confirmed rows
                while not agent.sparkplug.acked:
                    await asyncio.sleep(0.05)
            agent.sparkplug.edge.command(agent.sparkplug.topics.ncmd, b"junk")   # refused
            raw = await asyncio.to_thread(http, port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
        return raw

    got = samples(asyncio.run(scenario()).partition(b"\r\n\r\n")[2].decode())
    assert got[("lentera_sparkplug_sessions_total", ())] >= 1
    assert got[("lentera_sparkplug_births_total", ())] >= 1
    assert got[("lentera_sparkplug_ddata_total", ())] >= 1
    assert got[("lentera_sparkplug_barriers_total", ())] >= 1
    assert got[("lentera_sparkplug_acked_total", ())] >= 1
    assert got[("lentera_sparkplug_commands_refused_total", ())] == 1
    assert got[("lentera_sparkplug_rebirths_total", ())] == 0
    assert ("lentera_sparkplug_host_online", ()) in got
