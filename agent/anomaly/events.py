"""Turn detector transitions into event dicts for `{topic_prefix}/{gateway_id}/events/{device_id}`."""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np


def event_topic(topic_prefix: str, gateway_id: str, device_id: str) -> str:
    """MQTT topic an event about `device_id` is published on."""
    return f"{topic_prefix}/{gateway_id}/events/{device_id}"


def _plain(v):
    """numpy scalar -> JSON-ready Python value (NaN -> None)."""
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    f = float(v)
    return None if math.isnan(f) else f


def events_from_transitions(transitions: Iterable, device_ids: Sequence[str]) -> list:
    """One dict per light per transition: {kind, device_id, state, ts, score, evidence, first_seen_ts}."""
    events = []
    for tr in transitions:
        for pos, light in enumerate(tr.index):
            events.append({
                "kind": tr.kind,
                "device_id": device_ids[int(light)],
                "state": tr.state,
                "ts": float(tr.ts),
                "score": _plain(tr.score[pos]),
                "evidence": {k: _plain(v[pos]) for k, v in tr.evidence.items()},
                "first_seen_ts": _plain(tr.first_seen_ts[pos]),
            })
    return events


def anomaly_transitions(latch, scores: np.ndarray, ts: float, threshold: float = 0.8,
                        kind: str = "anomaly") -> list:
    """Latch generic-detector `scores` (per channel) into raise/clear transitions of `kind`."""
    from agent.anomaly.streetlight import Transition  # local: streetlight imports no events

    finite = np.isfinite(scores)
    bad, good = finite & (scores >= threshold), finite & (scores < threshold)
    out = []
    for state, idx in zip(("raised", "cleared"), latch.step(bad, good, ts)):
        if idx.size:
            out.append(Transition(kind, state, idx, float(ts), scores[idx],
                                  latch.first_seen[idx].copy(), {"score": scores[idx]}))
    return out
