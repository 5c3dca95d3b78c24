"""Street-light fault detectors on generated labelled data: event-level precision and recall."""

import json

import numpy as np
import pytest

from agent.anomaly.events import event_topic, events_from_transitions
from agent.anomaly.streetlight import KINDS, StreetlightDetectors
from bench.anomaly_data import FAULT_KINDS, generate
from tests.agent.anomaly.scoring import precision_recall, run_streetlight


@pytest.fixture(scope="module")
def faulty():
    """Five days, 200 lights, 12 faults of every kind, 1 % lost readings."""
    ds = generate(n_lights=200, days=5, poll_s=60, seed=21, faults_per_kind=12, missing=0.01)
    return ds, run_streetlight(ds)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_found_with_precision_and_recall(faulty, kind):
    ds, events = faulty
    precision, recall, n_raised, n_true = precision_recall(events, ds.labels, ds.device_ids, kind)
    assert n_true == 12
    assert precision >= 0.9 and recall >= 0.9, (precision, recall, n_raised)


def test_each_event_raised_once_and_cleared_once(faulty):
    _, events = faulty
    open_ = {}
    for e in events:
        key = (e["kind"], e["device_id"])
        if e["state"] == "raised":
            assert key not in open_, key
            open_[key] = e
        else:
            assert open_.pop(key)["first_seen_ts"] == e["first_seen_ts"]


def test_events_are_json_with_evidence(faulty):
    _, events = faulty
    e = next(e for e in events if e["kind"] == "lampFailure" and e["state"] == "raised")
    assert set(e) == {"kind", "device_id", "state", "ts", "score", "evidence", "first_seen_ts"}
    assert 0 < e["score"] <= 1 and e["first_seen_ts"] <= e["ts"]
    assert e["evidence"]["power"] < e["evidence"]["expected_power"]
    json.dumps(e, allow_nan=False)
    assert event_topic("city/light", "gw-7", e["device_id"]) == f"city/light/gw-7/events/{e['device_id']}"


def test_clean_week_raises_nothing():
    ds = generate(n_lights=100, days=7, poll_s=120, seed=22, faults_per_kind=0, missing=0.01)
    assert run_streetlight(ds) == []


def test_state_dict_round_trip_continues_identically(faulty):
    ds, _ = faulty
    a, b = StreetlightDetectors(200), StreetlightDetectors(200)
    ids = ds.device_ids

    def feed(det, lo, hi):
        out = []
        for i in range(lo, hi):
            trs = det.update({k: v[i] for k, v in ds.points.items()}, float(ds.ts[i]),
                             ds.sun_up[i], lux=ds.lux[i], last_command_ts=ds.last_command_ts[i])
            out += events_from_transitions(trs, ids)
        return out

    feed(a, 0, 3000)
    b.load_state_dict(a.state_dict())
    assert feed(a, 3000, 4500) == feed(b, 3000, 4500)


def test_missing_readings_neither_raise_nor_clear():
    det = StreetlightDetectors(1)
    poll = {"switch": 1.0, "dim": 100.0, "rated_power": 50.0, "power": 0.4, "voltage": 220.0}
    kinds = []
    for i in range(5):
        kinds += [t.kind for t in det.update({**poll, "voltage": 220.0 + i}, i * 60.0, False)]
    assert kinds == ["lampFailure"]
    for i in range(5, 20):                   # the light goes silent: nothing changes
        assert det.update({k: np.nan for k in poll}, i * 60.0, False) == []
    assert det.latch["lampFailure"].active[0]
    assert set(KINDS) == set(FAULT_KINDS)


def test_stuck_sensor_learns_each_channels_repeat_rate():
    # the flat-line check moved here from the generic detector: a noisy reading that
    # freezes scores high, a quantized counter whose value legitimately repeats does not
    from agent.anomaly.stuck import StuckSensor
    rng = np.random.default_rng(9)
    noisy = np.round(220 + rng.normal(0, 1, 3000), 1)
    counter = np.cumsum(rng.random(3000) < 0.02).astype(float)
    noisy[2000:2030] = noisy[2000]                        # stuck for 30 polls
    x = np.stack([noisy, counter], axis=1)
    x[rng.random(x.shape) < 0.01] = np.nan
    det = StuckSensor(2)
    s = np.array([det.update(row) for row in x])
    assert np.nanmax(s[2010:2015, 0]) > 0.5 and np.nanmax(s[2025:2030, 0]) > 0.8
    assert np.max(s[:2000, 0]) < 0.5 and np.max(s[2100:, 0]) < 0.5
    assert np.max(s[200:, 1]) < 0.9                      # the counter's flat runs are normal
    other = StuckSensor(2)
    other.load_state_dict(det.state_dict())
    assert np.array_equal(other.update(x[0]), det.update(x[0]))
