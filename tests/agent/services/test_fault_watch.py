"""FaultWatch: readings in, TALQ-named events out; learnt state survives a restart."""

import io
import tracemalloc
from pathlib import Path

import numpy as np

from agent.services.watch import FaultWatch
from drivers.sim.streetlight import StreetLightModel
from tests.support.npz_files import corrupt_member

NIGHT = 1795878000.0   # 2026-11-28 22:20 in Tangerang (UTC+7): sun down


def _reading(device, model):
    regs = model.input_registers()
    return {"device": device, "quality": "good", "ts": 0, "values": {
        "switch": model.switch, "dim": model.dim, "lamp_state": regs[0],
        "voltage": regs[1] / 10, "power": regs[3] / 10, "energy": (regs[5] << 16) | regs[6],
        "rated_power": model.rated_power, "current": regs[2] / 1000,
        "driver_temp": regs[7] / 10}}


def _run(watch, models, t0, polls, period=60.0):
    events = []
    for k in range(polls):
        ts = t0 + k * period
        for device, model in models.items():
            model.advance(ts)
            watch.observe(_reading(device, model))
        events += watch.evaluate(ts)
    return events


def test_injected_lamp_failure_is_raised_once_then_cleared_once(tmp_path):
    emitted = []
    models = {f"L-{u:03d}": StreetLightModel(u, NIGHT - 600) for u in range(1, 9)}
    watch = FaultWatch(list(models), [], -6.178, 106.632,
                       lambda device, kind, prio, **f: emitted.append((device, kind, f)))
    assert not _run(watch, models, NIGHT, 10)
    models["L-004"].inject("lampFailure")
    _run(watch, models, NIGHT + 600, 10)
    models["L-004"].inject("lampFailure", False)
    _run(watch, models, NIGHT + 1200, 10)
    lamp = [(d, f["state"]) for d, k, f in emitted if k == "lampFailure"]
    assert lamp == [("L-004", "raised"), ("L-004", "cleared")], emitted
    assert all(d == "L-004" for d, _, _ in emitted), emitted


def test_day_burning_needs_the_sun_up():
    emitted = []
    noon = NIGHT - 10 * 3600          # 12:20 local
    models = {f"L-{u:03d}": StreetLightModel(u, noon - 600) for u in range(1, 4)}
    for u, m in enumerate(models.values()):
        m.set_switch(0)
    models["L-002"].inject("dayBurning")
    watch = FaultWatch(list(models), [], -6.178, 106.632,
                       lambda device, kind, prio, **f: emitted.append((device, kind, f)))
    _run(watch, models, noon, 6)
    assert [(d, k, f["state"]) for d, k, f in emitted] == [("L-002", "dayBurning", "raised")]
    assert emitted[0][2]["evidence"]["power"] > 50


def test_generic_state_round_trips_through_the_state_file(tmp_path):
    models = {f"L-{u:03d}": StreetLightModel(u, NIGHT) for u in range(1, 3)}
    channels = [(d, p) for d in models for p in ("voltage", "power", "driver_temp")]
    path = tmp_path / "anomaly.npz"
    first = FaultWatch(list(models), channels, -6.178, 106.632, lambda *a, **k: None,
                       state_file=str(path))
    _run(first, models, NIGHT, 30)
    first.save()
    second = FaultWatch(list(models), channels, -6.178, 106.632, lambda *a, **k: None,
                        state_file=str(path))
    assert second.load()
    for key, value in first.generic.state_dict().items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, second.generic.state_dict()[key], equal_nan=True), key
    other = FaultWatch(["X"], channels[:1], -6.178, 106.632, lambda *a, **k: None,
                       state_file=str(path))
    assert not other.load()        # different devices: start fresh, don't misapply state


def test_sun_is_up_at_half_past_six_in_jakarta():
    watch = FaultWatch([], [], -6.178, 106.632, lambda *a, **k: None)
    morning = 1795823400          # 2026-11-28 06:50 WIB, still 2026-11-27 in UTC
    evening = morning + 12 * 3600 + 1800    # 19:20 WIB
    assert watch.sun_up(morning) and not watch.sun_up(evening)


def test_state_file_of_an_older_version_is_kept_and_its_new_arrays_filled(tmp_path):
    """Review finding 6: a file saved before the short-term likelihood has no lik_* arrays.
    The watch used to fill them from a fresh detector (zeros: every ordinary window then
    looks many sds above its usual level); now the detector fills them from the kept
    calibration, and keeps everything the file has."""
    models = {f"L-{u:03d}": StreetLightModel(u, NIGHT) for u in range(1, 3)}
    channels = [(d, p) for d in models for p in ("voltage", "power", "driver_temp")]
    path = tmp_path / "anomaly.npz"
    first = FaultWatch(list(models), channels, -6.178, 106.632, lambda *a, **k: None,
                       state_file=str(path))
    _run(first, models, NIGHT, 450, period=300.0)     # past the warm-up day and calibration
    first.save()
    with np.load(path) as f:
        old = {k: f[k] for k in f.files if not k.startswith("generic/lik_")}
    np.savez(path, **old)                              # what the older version wrote
    second = FaultWatch(list(models), channels, -6.178, 106.632, lambda *a, **k: None,
                        state_file=str(path))
    assert second.load()
    state = second.generic.state
    for key, value in old.items():
        if key.startswith("generic/"):
            assert np.array_equal(state[key[8:]], value, equal_nan=True), key
    calibrated = first.generic.state["cal_var"] > 0
    assert calibrated.any()
    assert np.all(state["lik_mean"][calibrated] > 0), state["lik_mean"]
    assert np.all(state["lik_var"][calibrated] > 0), state["lik_var"]


# written by the code at fec761f (tests/agent/services/data): 4 lights, 3 channels each,
# 450 steps at 300 s, L-003 with a lamp failure
FIXTURE = Path(__file__).parent / "data" / "state_fec761f.npz"
FIXTURE_LIGHTS = [f"L-{u:03d}" for u in range(1, 5)]
FIXTURE_CHANNELS = [(d, p) for d in FIXTURE_LIGHTS for p in ("voltage", "power", "driver_temp")]


def _fixture_watch(tmp_path, data: bytes | None = None):
    path = tmp_path / "anomaly.npz"
    path.write_bytes(FIXTURE.read_bytes() if data is None else data)
    told = []
    watch = FaultWatch(FIXTURE_LIGHTS, FIXTURE_CHANNELS, -6.178, 106.632, lambda *a, **k: None,
                       state_file=str(path))
    watch.on_corrupt = lambda path, aside, exc: told.append((path, aside, exc))
    return watch, path, told


def _restored(watch) -> dict:
    """Every array the watch would save, under its name in the file."""
    out = {f"generic/{k}": v for k, v in watch.generic.state.items()}
    out.update({f"lights/mem/{k}": v for k, v in watch.lights.mem.items()})
    for kind, latch in watch.lights.latch.items():
        out.update({f"lights/latch/{kind}/{k}": v for k, v in latch.state_dict().items()})
    return out


def test_a_state_file_of_fec761f_loads_identically(tmp_path):
    watch, _, told = _fixture_watch(tmp_path)
    assert watch.load() and not told
    restored = _restored(watch)
    with np.load(FIXTURE) as f:
        arrays = {k: f[k] for k in f.files if k not in ("channels", "light_ids")}
    # what came after fec761f is filled as an upgrade: the own tail's rates, empty while it is
    # off (tail_levels 0, the default)
    assert set(restored) - set(arrays) == {"generic/tail_rate"} and set(arrays) <= set(restored)
    assert restored["generic/tail_rate"].shape == (0, len(FIXTURE_CHANNELS))
    for key, value in arrays.items():
        assert restored[key].dtype == value.dtype, key
        assert np.array_equal(restored[key], value, equal_nan=value.dtype.kind == "f"), key
    assert watch.lights.latch["lampFailure"].active.tolist() == [False, False, True, False]


def test_a_state_that_does_not_fit_is_moved_aside_naming_the_file_and_array(tmp_path):
    with np.load(FIXTURE) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["generic/season"] = arrays["generic/season"][:23]       # another n_bins
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    watch, path, told = _fixture_watch(tmp_path, buf.getvalue())
    assert not watch.load()
    [(told_path, aside, exc)] = told
    assert told_path == path and aside.exists() and not path.exists()
    assert f"{path}: array 'generic/season' has shape (23, 12), expected (24, 12)" in str(exc)
    fresh = FaultWatch(FIXTURE_LIGHTS, FIXTURE_CHANNELS, -6.178, 106.632, lambda *a, **k: None)
    for key, value in _restored(fresh).items():          # started fresh: nothing half-loaded
        assert np.array_equal(_restored(watch)[key], value, equal_nan=True), key


def test_a_corrupt_array_is_moved_aside_and_the_watch_starts_fresh(tmp_path):
    watch, path, told = _fixture_watch(tmp_path)
    corrupt_member(path, "generic/season")
    assert not watch.load()
    [(_, aside, exc)] = told
    assert aside.exists() and "CRC" in str(exc)
    fresh = FaultWatch(FIXTURE_LIGHTS, FIXTURE_CHANNELS, -6.178, 106.632, lambda *a, **k: None)
    for key, value in _restored(fresh).items():
        assert np.array_equal(_restored(watch)[key], value, equal_nan=True), key


def test_loading_the_state_holds_it_once(tmp_path):
    """Issue 24: the load read every array into a dict, then the detector copied each (np.array),
    so start-up held the state 2-3 times over (~12 MB of peak for 5 MB at 5,000 channels). Now
    each array goes from the file into the detector's own array: the load's peak allocation is
    a small share of the state (zip buffers, one light array, the channel names)."""
    lights = [f"L-{u:04d}" for u in range(500)]
    channels = [(d, p) for d in lights for p in ("voltage", "power", "current", "driver_temp")]
    path = tmp_path / "anomaly.npz"
    first = FaultWatch(lights, channels, -6.178, 106.632, lambda *a, **k: None,
                       state_file=str(path))
    first.save()
    second = FaultWatch(lights, channels, -6.178, 106.632, lambda *a, **k: None,
                        state_file=str(path))
    state = sum(v.nbytes for v in second.generic.state.values())
    tracemalloc.start()
    try:
        assert second.load()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * state, f"load peak {peak / 1e6:.2f} MB for {state / 1e6:.2f} MB of state"
