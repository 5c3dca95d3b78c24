"""Run the street-light detectors over a generated data set and score events against labels."""

from __future__ import annotations


from agent.anomaly.events import events_from_transitions
from agent.anomaly.streetlight import StreetlightDetectors

TOLERANCE_S = 1800.0   # an event matches a label raised within [start - tol, end + tol]


def run_streetlight(ds) -> list:
    """Feed every poll of `ds` to fresh detectors; return all event dicts."""
    det = StreetlightDetectors(ds.points["power"].shape[1])
    ids = ds.device_ids
    events = []
    for i, ts in enumerate(ds.ts):
        poll = {k: v[i] for k, v in ds.points.items()}
        trs = det.update(poll, float(ts), ds.sun_up[i], lux=ds.lux[i],
                         last_command_ts=ds.last_command_ts[i])
        events.extend(events_from_transitions(trs, ids))
    return events


def precision_recall(events: list, labels: list, ids: list, kind: str) -> tuple:
    """Event-level precision and recall of raised `kind` events against `kind` labels."""
    raised = [e for e in events if e["kind"] == kind and e["state"] == "raised"]
    truth = [lab for lab in labels if lab.kind == kind]

    def match(e, lab):
        return (e["device_id"] == ids[lab.light]
                and lab.start - TOLERANCE_S <= e["ts"] <= lab.end + TOLERANCE_S)

    tp_events = sum(any(match(e, lab) for lab in truth) for e in raised)
    found = sum(any(match(e, lab) for e in raised) for lab in truth)
    precision = tp_events / len(raised) if raised else (1.0 if not truth else 0.0)
    recall = found / len(truth) if truth else 1.0
    return precision, recall, len(raised), len(truth)
