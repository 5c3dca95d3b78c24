"""End to end over pty pairs: the simulator writes frames, pyserial and SerialSensor read them."""

import asyncio
import os

import pytest

from agent.errors import DeviceError
from drivers.serial.line import SerialSensor, SerialSensorConfig
from drivers.sim.serial_emitters import (
    ASCII_PATTERN,
    Noise,
    SerialSensorEmitter,
    run_serial_sensor,
)

FAST_HZ = 200.0  # the real sensors send at ~1 Hz; tests run the same frames faster
TEST_TIMEOUT_S = 10.0


def run(coro):
    """Run one async test body with an overall deadline."""
    return asyncio.run(asyncio.wait_for(coro, TEST_TIMEOUT_S))


def config(kind: str, port: str, **kw) -> SerialSensorConfig:
    return SerialSensorConfig(name=f"aq-{kind}", kind=kind, port=port, **kw)


def expected_values(emitter: SerialSensorEmitter, points: tuple[str, ...]) -> list[dict]:
    """The values of every frame the emitter sent intact, in order."""
    assert emitter.frames_dropped == 0, "the pty filled up: the reader fell behind"
    return [{p: f.values[p] for p in points} for f in emitter.sent if not f.corrupted]


async def collect(sensor: SerialSensor, n: int) -> list:
    return [await sensor.next_reading(timeout=3.0) for _ in range(n)]


async def noisy_run(kind, noise, frames, seed, skip_first=False, **cfg):
    """Send `frames` frames with noise; return the emitter, the sensor and the readings."""
    emitter = SerialSensorEmitter(kind, rate_hz=FAST_HZ, noise=noise, seed=seed,
                                  max_frames=frames)
    path = emitter.open()  # the reader opens before the first byte: pyserial flushes on open
    try:
        async with SerialSensor(config(kind, path, **cfg)) as sensor:
            emitter.start()
            await asyncio.wait_for(emitter.finished.wait(), 5.0)
            assert not emitter.sent[-1].corrupted, "pick a seed whose last frame is intact"
            good = sum(not f.corrupted for f in list(emitter.sent)[skip_first:])
            readings = await collect(sensor, good)
            return emitter, sensor, readings
    finally:
        await emitter.stop()


def test_sds011_clean_stream_arrives_in_order():
    async def body():
        emitter, sensor, readings = await noisy_run("sds011", None, frames=30, seed=1)
        assert [dict(r.values) for r in readings] == expected_values(emitter, ("pm2_5", "pm10"))
        assert all(15 <= r.values["pm2_5"] <= 80 for r in readings)
        assert sensor.counters()["frames_ok"] == 30
        assert sensor.counters()["resync_bytes_dropped"] == 0
    run(body())


def test_sds011_noise_counted_and_no_bad_value_published():
    async def body():
        noise = Noise(garbage_rate=0.3, garbage_max_bytes=12, corrupt_rate=0.2)
        emitter, sensor, readings = await noisy_run("sds011", noise, frames=80, seed=4)
        assert emitter.frames_corrupted > 5 and emitter.garbage_bytes > 0
        assert [dict(r.values) for r in readings] == expected_values(emitter, ("pm2_5", "pm10"))
        c = sensor.counters()
        assert c["bad_checksum"] == emitter.frames_corrupted
        assert c["frames_ok"] == 80 - emitter.frames_corrupted
        assert c["resync_bytes_dropped"] == emitter.garbage_bytes + 10 * emitter.frames_corrupted
    run(body())


def test_pms5003_noise_counted_and_no_bad_value_published():
    async def body():
        noise = Noise(garbage_rate=0.3, corrupt_rate=0.2)
        emitter, sensor, readings = await noisy_run("pms5003", noise, frames=60, seed=2)
        assert emitter.frames_corrupted > 3
        points = ("pm1_0", "pm2_5", "pm10")
        got = [{p: r.values[p] for p in points} for r in readings]
        want = [{p: float(round(v[p])) for p in points} for v in expected_values(emitter, points)]
        assert got == want  # PMS5003 sends whole µg/m³
        assert sensor.counters()["bad_checksum"] == emitter.frames_corrupted
    run(body())


def test_ascii_sensor_corrupted_lines_counted():
    async def body():
        noise = Noise(corrupt_rate=0.25)
        emitter, sensor, readings = await noisy_run(
            "ascii", noise, frames=40, seed=3, skip_first=True, pattern=ASCII_PATTERN,
            terminator="\r\n")
        # the first line is skipped on purpose: a port opened mid-stream starts mid-line
        assert emitter.frames_corrupted > 3
        intact = [f for f in list(emitter.sent)[1:] if not f.corrupted]
        assert [dict(r.values) for r in readings] == [
            {"pm2_5": f.values["pm2_5"], "pm10": f.values["pm10"]} for f in intact]
        c = sensor.counters()
        assert c["lines_not_utf8"] == emitter.frames_corrupted - emitter.sent[0].corrupted
    run(body())


def test_read_loop_hands_readings_to_callback():
    async def body():
        emitter = SerialSensorEmitter("sds011", rate_hz=FAST_HZ, seed=5)
        path = emitter.open()
        got, enough = [], asyncio.Event()

        def on_reading(reading):
            got.append(reading)
            if len(got) == 5:
                enough.set()

        try:
            async with SerialSensor(config("sds011", path)) as sensor:
                emitter.start()
                loop_task = asyncio.create_task(sensor.read_loop(on_reading), name="test.read")
                await asyncio.wait_for(enough.wait(), 3.0)
                loop_task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await loop_task
        finally:
            await emitter.stop()
        assert [r.values["pm2_5"] for r in got[:5]] == [f.values["pm2_5"] for f in
                                                         list(emitter.sent)[:5]]
    run(body())


def test_port_that_disappears_raises_device_error_naming_it():
    async def body():
        emitter = SerialSensorEmitter("sds011", rate_hz=FAST_HZ, seed=6)
        path = emitter.open()
        async with SerialSensor(config("sds011", path)) as sensor:
            emitter.start()
            await sensor.next_reading(timeout=3.0)
            await emitter.stop()  # like pulling the USB adapter
            with pytest.raises(DeviceError) as err:
                while True:
                    await sensor.next_reading(timeout=3.0)
        assert err.value.device == "aq-sds011" and err.value.operation == "read"
        assert path in str(err.value) and "disappeared" in str(err.value)
        assert "check the USB adapter" in str(err.value)
    run(body())


def test_reopen_after_close_reads_on():
    async def body():
        emitter = SerialSensorEmitter("sds011", rate_hz=FAST_HZ, seed=10)
        path = emitter.open()
        sensor = SerialSensor(config("sds011", path))
        try:
            sensor.open()
            emitter.start()
            await sensor.next_reading(timeout=3.0)
            sensor.close()
            sensor.open()
            await sensor.next_reading(timeout=3.0)
        finally:
            sensor.close()
            await emitter.stop()
        assert sensor.counters()["frames_ok"] >= 2
    run(body())


def test_missing_port_raises_device_error_on_open():
    async def body():
        sensor = SerialSensor(config("sds011", "/dev/ttyLENTERA-none"))
        with pytest.raises(DeviceError) as err:
            sensor.open()
        assert err.value.operation == "open"
        assert "/dev/ttyLENTERA-none" in str(err.value) and "plugged in" in str(err.value)
    run(body())


def test_silent_port_times_out_with_a_hint():
    async def body():
        emitter = SerialSensorEmitter("sds011")
        path = emitter.open()  # opened, never started: a sensor without power
        try:
            async with SerialSensor(config("sds011", path)) as sensor:
                with pytest.raises(DeviceError, match="no bytes at all"):
                    await sensor.next_reading(timeout=0.2)
        finally:
            await emitter.stop()
    run(body())


def test_wrong_kind_times_out_with_a_baudrate_hint():
    async def body():
        emitter = SerialSensorEmitter("pms5003", rate_hz=FAST_HZ, seed=8)
        path = emitter.open()
        try:
            async with SerialSensor(config("sds011", path)) as sensor:
                emitter.start()
                with pytest.raises(DeviceError, match="bytes but no valid frame.*baudrate"):
                    await sensor.next_reading(timeout=0.3)
        finally:
            await emitter.stop()
    run(body())


def test_run_serial_sensor_reports_path_and_cleans_up():
    async def body():
        ready = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(run_serial_sensor(
            "sds011", rate_hz=FAST_HZ, seed=9, on_ready=ready.set_result), name="sim.sds011")
        path = await asyncio.wait_for(ready, 3.0)
        assert os.path.exists(path)
        async with SerialSensor(config("sds011", path)) as sensor:
            reading = await sensor.next_reading(timeout=3.0)
            assert 15 <= reading.values["pm2_5"] <= 80
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            with pytest.raises(DeviceError, match="disappeared"):
                while True:
                    await sensor.next_reading(timeout=3.0)
    run(body())


def test_a_stop_that_lands_as_a_frame_arrives_still_ends_the_read_loop():
    """Before: next_reading waited with wait_for, which on CPython 3.11 returns the result when
    a cancel lands in the step the frame is handed over (gh-86296); read_loop then read on after
    its stop, and the CI run hung here until the test's deadline."""
    async def body():
        emitter = SerialSensorEmitter("sds011", rate_hz=FAST_HZ, seed=8)
        path = emitter.open()
        try:
            async with SerialSensor(config("sds011", path)) as sensor:
                got = []
                loop_task = asyncio.create_task(sensor.read_loop(got.append), name="test.read")
                for _ in range(3):
                    await asyncio.sleep(0)          # read_loop is waiting for a reading
                fd = sensor._port.fileno()
                sensor._loop.remove_reader(fd)      # the frames wait, unread, until
                for _ in range(3):
                    emitter._send(emitter._model.step())
                await asyncio.sleep(0.05)
                sensor._on_readable()               # the reader callback hands them over
                assert sensor._ready.is_set(), "the frame was not read whole"
                loop_task.cancel()                  # and the stop comes in the same step
                done, _ = await asyncio.wait({loop_task}, timeout=2.0)
                assert done, "read_loop kept reading after it was cancelled"
                assert loop_task.cancelled()
        finally:
            await emitter.stop()
    run(body())
