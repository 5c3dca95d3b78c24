"""What the periodic sampler (agent/talq/sampler.py) keeps across a restart, atomically.

The data-model OAS's SamplingProfile: without a samplingPeriod "a single sample shall be
taken at the specified samplingStartTime or immediately if samplingStartTime has already
past", and onChangeThreshold compares "with respect to the previous sample". Both outlive a
restart: a one-shot profile already taken is not taken again, a periodic one resumes after
its last instant taken (never repeating it), and the last value logged of each attribute with
an onChangeThreshold is still the one a new sample is compared with.

Kept per logger with a fingerprint of its config: a logger the CMS replaced or deleted since
starts anew (as it does without a restart). File: `talq-sampler.json` beside the logger
configs; a corrupt one is moved aside and the sampler starts fresh (it then samples as if new).
"""

import hashlib
import json

from agent.store.statefile import load_or_quarantine


def fingerprint(logger: dict) -> str:
    """A stable digest of the CMS's LoggerConfig (the stored body, not Python identity)."""
    raw = json.dumps(logger["config"], sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def dump(loggers: dict, taken: dict, last: dict) -> bytes:
    """taken: (logger address, profile) -> (logger, last instant taken); last: (logger address,
    device address, function id, attribute) -> value; only for the loggers that exist now."""
    out = {}
    for address, logger in loggers.items():
        entry = {"config": fingerprint(logger), "taken": {}, "last": []}
        for (name, i), (owner, when) in taken.items():
            if name == address and owner is logger:
                entry["taken"][str(i)] = when
        entry["last"] = [[d, f, a, v] for (name, d, f, a), v in last.items() if name == address]
        out[address] = entry
    return json.dumps({"loggers": out}, separators=(",", ":")).encode()


def load(path, loggers: dict, on_corrupt) -> tuple[dict, dict]:
    """(taken, last) as dump() keeps them, for the loggers whose config is unchanged."""
    def read(p):
        saved = json.loads(p.read_bytes().decode("utf-8"))["loggers"]
        taken, last = {}, {}
        for address, entry in saved.items():
            logger = loggers.get(address)
            if logger is None or entry["config"] != fingerprint(logger):
                continue                                 # replaced or deleted: starts anew
            for i, when in entry["taken"].items():
                taken[(address, int(i))] = (logger, float(when))
            for device, function, attribute, value in entry["last"]:
                last[(address, device, function, attribute)] = value
        return taken, last
    return load_or_quarantine(path, read, on_corrupt) or ({}, {})
