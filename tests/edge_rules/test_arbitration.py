from edge_rules.arbitration import SOURCES, Arbiter

T0 = 1750000000
FAILSAFE = (True, 100, "failsafe default")


def decision(source):
    """A distinct (switch, dim) per source so the winner is visible in the output."""
    return {"maintenance": (True, 11), "command": (True, 22), "rule": (True, 33),
            "schedule": (True, 44), "failsafe": (True, 100)}[source]


def arbiter_with(sources, expires=T0 + 600):
    arb = Arbiter(["L-1"])
    layers = {}
    for source in sources:
        switch, dim = decision(source)
        if source in ("maintenance", "command"):
            arb.hold(source, "L-1", switch, dim, expires, source + " reason")
        else:
            layers[source] = (switch, dim, source + " reason")
    return arb, {"L-1": layers}


def test_every_priority_pair_higher_wins():
    pairs = 0
    for hi in range(len(SOURCES)):
        for lo in range(hi + 1, len(SOURCES)):
            arb, layers = arbiter_with([SOURCES[lo], SOURCES[hi], "failsafe"])
            outputs, records = arb.step(T0, layers)
            assert outputs["L-1"] == {"switch": True, "dim": decision(SOURCES[hi])[1], "source": SOURCES[hi]}, (
                SOURCES[hi], SOURCES[lo])
            assert records[0]["source"] == SOURCES[hi] and records[0]["reason"] == SOURCES[hi] + " reason"
            pairs += 1
    assert pairs == 10


def test_expiry_hands_over_to_next_source_in_order():
    arb, layers = arbiter_with(["maintenance", "command", "rule", "schedule", "failsafe"])
    arb.hold("command", "L-1", True, 22, T0 + 1200, "command reason")
    assert arb.step(T0, layers)[0]["L-1"]["source"] == "maintenance"
    assert arb.step(T0 + 599, layers)[1] == []  # unchanged: no record
    outputs, records = arb.step(T0 + 600, layers)
    assert outputs["L-1"] == {"switch": True, "dim": 22, "source": "command"}
    assert records == [{"light": "L-1", "old": {"switch": True, "dim": 11}, "new": {"switch": True, "dim": 22},
                        "source": "command", "reason": "maintenance expired; command reason", "ts": T0 + 600}]
    outputs, records = arb.step(T0 + 1200, layers)
    assert outputs["L-1"]["source"] == "rule" and records[0]["reason"].startswith("command expired")
    del layers["L-1"]["rule"]
    assert arb.step(T0 + 1201, layers)[0]["L-1"]["source"] == "schedule"
    del layers["L-1"]["schedule"]
    assert arb.step(T0 + 1202, layers)[0]["L-1"] == {"switch": True, "dim": 100, "source": "failsafe"}


def test_fields_arbitrate_separately():
    arb = Arbiter(["L-1"])
    layers = {"L-1": {"rule": (None, 50, "derate"), "schedule": (False, None, "day"), "failsafe": FAILSAFE}}
    assert arb.step(T0, layers)[0]["L-1"] == {"switch": False, "dim": 0, "source": "rule"}
    layers["L-1"]["schedule"] = (True, 80, "night")
    assert arb.step(T0 + 1, layers)[0]["L-1"] == {"switch": True, "dim": 50, "source": "rule"}
    arb.hold("maintenance", "L-1", False, None, T0 + 100, "lamp swap")
    assert arb.step(T0 + 2, layers)[0]["L-1"] == {"switch": False, "dim": 0, "source": "maintenance"}


def test_release_and_validation():
    arb, layers = arbiter_with(["command", "schedule", "failsafe"])
    assert arb.release("command", "L-1") is True
    assert arb.release("command", "L-1") is False
    assert arb.step(T0, layers)[0]["L-1"]["source"] == "schedule"
    for args in (("rule", "L-1", True, None, T0, ""), ("command", "L-9", True, None, T0, ""),
                 ("command", "L-1", None, None, T0, ""), ("command", "L-1", None, 101, T0, "")):
        try:
            arb.hold(*args)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % (args,))


def test_no_layers_means_full_on():
    outputs, records = Arbiter(["L-1"]).step(T0, {})
    assert outputs["L-1"] == {"switch": True, "dim": 100, "source": "failsafe"}
    assert records[0]["old"] is None
