"""FaultWatch: readings in, TALQ-named events out; learnt state survives a restart."""

import numpy as np

from agent.services.watch import FaultWatch
from drivers.sim.streetlight import StreetLightModel

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
