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
            arb.hold(source, ("device", "L-1"), ["L-1"], switch, dim, expires, source + " reason")
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
    arb.hold("command", ("device", "L-1"), ["L-1"], True, 22, T0 + 1200, "command reason")
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
    arb.hold("maintenance", ("device", "L-1"), ["L-1"], False, None, T0 + 100, "lamp swap")
    assert arb.step(T0 + 2, layers)[0]["L-1"] == {"switch": False, "dim": 0, "source": "maintenance"}


def test_release_and_validation():
    arb, layers = arbiter_with(["command", "schedule", "failsafe"])
    assert len(arb.release("command", ("device", "L-1"))) == 1
    assert arb.release("command", ("device", "L-1")) == []
    assert arb.step(T0, layers)[0]["L-1"]["source"] == "schedule"
    for args in (("rule", ["L-1"], True, None), ("command", ["L-9"], True, None), ("command", [], True, None),
                 ("command", ["L-1"], None, None), ("command", ["L-1"], None, 101)):
        try:
            arb.hold(args[0], ("device", "x"), args[1], args[2], args[3], T0, "")
        except ValueError:
            continue
        raise AssertionError("accepted %r" % (args,))


def test_no_layers_means_full_on():
    outputs, records = Arbiter(["L-1"]).step(T0, {})
    assert outputs["L-1"] == {"switch": True, "dim": 100, "source": "failsafe"}
    assert records[0]["old"] is None


SCHEDULE_ON = {"L-1": {"schedule": (True, 80, "night"), "failsafe": FAILSAFE},
               "L-2": {"schedule": (True, 80, "night"), "failsafe": FAILSAFE}}


def test_a_device_dim_under_a_group_off_keeps_the_light_off():
    arb = Arbiter(["L-1", "L-2"])
    arb.hold("maintenance", ("group", "road"), ["L-1", "L-2"], False, None, T0 + 3600, "pole works")
    arb.hold("maintenance", ("device", "L-2"), ["L-2"], None, 40, T0 + 3600, "test driver")
    out = arb.step(T0, SCHEDULE_ON)[0]
    assert out["L-2"] == {"switch": False, "dim": 0, "source": "maintenance"}
    assert len(arb.release("maintenance", ("device", "L-2"))) == 1
    assert arb.step(T0 + 1, SCHEDULE_ON)[0]["L-2"] == {"switch": False, "dim": 0, "source": "maintenance"}
    assert arb.release("maintenance", ("device", "L-2")) == []   # nothing left on the device itself
    arb.release("maintenance", ("group", "road"))
    assert arb.step(T0 + 2, SCHEDULE_ON)[0]["L-2"] == {"switch": True, "dim": 80, "source": "schedule"}


def test_overlapping_timed_commands_fall_back_to_what_is_live_underneath():
    arb = Arbiter(["L-1", "L-2"])
    arb.hold("command", ("device", "L-1"), ["L-1"], None, 50, T0 + 20, "A")
    arb.hold("command", ("device", "L-1"), ["L-1"], None, 30, T0 + 15, "B")
    assert arb.step(T0 + 5, SCHEDULE_ON)[0]["L-1"]["dim"] == 30
    out, records = arb.step(T0 + 15, SCHEDULE_ON)
    assert out["L-1"] == {"switch": True, "dim": 50, "source": "command"}
    assert records[0]["reason"] == "command expired; A"
    assert arb.step(T0 + 20, SCHEDULE_ON)[0]["L-1"] == {"switch": True, "dim": 80, "source": "schedule"}
    assert arb.next_expiry() is None


def test_newer_entry_hides_an_older_one_for_good_and_it_is_dropped():
    arb = Arbiter(["L-1"])
    arb.hold("command", ("device", "L-1"), ["L-1"], True, 50, T0 + 20, "A")
    arb.hold("command", ("device", "L-1"), ["L-1"], True, 30, T0 + 30, "B")
    assert [e.reason for e in arb.entries("command")] == ["B"]
    arb.hold("command", ("device", "L-1"), ["L-1"], None, 10, T0 + 40, "C")   # sets less: A..B stay
    assert [e.reason for e in arb.entries("command")] == ["C", "B"]


def test_a_flood_of_entries_is_refused_not_hoarded():
    from edge_rules.arbitration import MAX_ENTRIES
    from edge_rules.errors import ArbitrationFull
    arb = Arbiter(["L-1"])
    cap = MAX_ENTRIES + 1                     # the cap and one entry per light
    for i in range(cap):
        arb.hold("command", ("device", "L-1"), ["L-1"], None, i % 100, T0 + 1000 - i, "c%d" % i)
    saved = arb.saved("command")
    try:
        arb.hold("command", ("device", "L-1"), ["L-1"], None, 5, T0 + 1, "one too many")
        raised = False
    except ArbitrationFull:
        raised = True
    assert raised and len(arb.entries("command")) == cap
    arb.restore("command", saved[:3])
    assert arb.entries("command") == saved[:3]


def test_withdraw_takes_lights_out_of_one_kind_of_entry_and_restore_undoes_it():
    arb = Arbiter(["L-1", "L-2", "L-3"])
    layers = {light: {"failsafe": FAILSAFE} for light in arb.lights}
    older = arb.hold("command", ("talq", "a"), ["L-1", "L-2"], True, 30, T0 + 600, "talq a")
    arb.hold("command", ("lights", "L-2,L-3"), ["L-2", "L-3"], True, 60, T0 + 600, "mqtt")
    saved = arb.saved("command")
    assert arb.withdraw("command", "talq", ["L-2", "L-3"]) == 1      # the mqtt one is not talq
    outputs, _ = arb.step(T0, layers)
    assert [outputs[x]["dim"] for x in ("L-1", "L-2", "L-3")] == [30, 60, 60]
    assert older.lights == ["L-1", "L-2"]          # copied, not changed: saved() still holds it
    assert arb.withdraw("command", "talq", ["L-1"]) == 1 and len(arb.entries("command")) == 1
    arb.restore("command", saved)
    assert [e.lights for e in arb.entries("command")] == [["L-2", "L-3"], ["L-1", "L-2"]]
