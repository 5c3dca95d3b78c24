"""End to end: a simulated SDS011 on a pty -> agent -> broker, averaged PM readings."""

import asyncio
import threading

from drivers.sim.serial_emitters import Noise, SerialSensorEmitter
from tests.support.gateway_files import write_gateway

PREFIX = "city/lighting/test-gw"


class EmitterThread:
    """A SerialSensorEmitter on its own loop thread (the agent is another process)."""

    def __init__(self, kind, **kwargs):
        self.loop = asyncio.new_event_loop()
        self.emitter = SerialSensorEmitter(kind, **kwargs)
        self.path = self.emitter.open()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self):
        self.loop.call_soon_threadsafe(self.emitter.start)

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.emitter.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_sds011_readings_reach_the_broker_averaged(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(1)
    sensor = EmitterThread("sds011", rate_hz=20, noise=Noise(garbage_rate=0.2, corrupt_rate=0.2),
                           seed=3)
    try:
        sub = subscriber_factory(broker.port, f"{PREFIX}/telemetry/AQ-01")
        extra = (f"serial_sensors:\n  - {{id: AQ-01, kind: sds011, port: {sensor.path}, "
                 f"publish_every: 1s}}\n")
        agent_factory(write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 1, extra=extra))
        sensor.start()
        got = sub.wait_for(lambda m: [p for _, p, _ in m if p["quality"] == "good"], 20,
                           "an averaged AQ-01 reading")
        values = got[0]["values"]
        assert set(values) == {"pm2_5", "pm10"}
        assert 0 < values["pm2_5"] < 200 and values["pm10"] >= values["pm2_5"] * 0.5
    finally:
        sensor.stop()
