"""SerialSensorService over a real pty: averaged readings, bad frames never published."""

import asyncio

from agent.services.sensors import SerialSensorService
from drivers.serial.line import SerialSensorConfig
from drivers.sim.serial_emitters import Noise, SerialSensorEmitter


def test_sds011_on_a_noisy_pty_gives_averaged_good_readings_and_counts_bad_frames():
    async def main():
        emitter = SerialSensorEmitter("sds011", rate_hz=50, noise=Noise(garbage_rate=0.3,
                                      corrupt_rate=0.3), seed=7, max_frames=200)
        path = emitter.open()
        out = []
        got_three = asyncio.Event()

        def sink(reading):
            out.append(reading)
            if len([r for r in out if r["quality"] == "good"]) >= 3:
                got_three.set()
        service = SerialSensorService(SerialSensorConfig(name="AQ-01", kind="sds011",
                                                         port=path), 0.5, sink,
                                      lambda: 1_000)
        task = asyncio.create_task(service.run_loop())
        await asyncio.sleep(0)                 # let the service open the port first
        emitter.start()
        await asyncio.wait_for(got_three.wait(), 20)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await emitter.stop()
        return out, emitter
    out, emitter = asyncio.run(main())
    good = [r for r in out if r["quality"] == "good"]
    assert len(good) >= 3
    sent_ok = [f.values for f in emitter.sent if not f.corrupted]
    lo = min(v["pm2_5"] for v in sent_ok)
    hi = max(v["pm2_5"] for v in sent_ok)
    for r in good:
        assert lo - 0.05 <= r["values"]["pm2_5"] <= hi + 0.05   # an average of good frames only
        assert r["samples"] >= 2
    assert good[-1]["counters"]["bad_checksum"] + good[-1]["counters"]["bad_frames"] > 0
