"""Property tests (hypothesis, CPython only) of arbitration against a small reference model.

Random sequences of crew overrides (device or group), city commands with durations, clears,
rule and plan steps and the passing of time: after every step each light's switch, dim and
deciding source must be what the reference model says. The model keeps every entry ever made
and asks, per light and field, the highest source and within it the newest live entry; the
implementation prunes hidden entries and keeps an index, so the two are written differently.

tests/edge_rules runs under MicroPython too, which has no hypothesis: so this file lives here.
"""

import asyncio
import time

from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.services.arbiter import DirectArbiter
from edge_rules.arbitration import SOURCES, Arbiter

LIGHTS = ["L-1", "L-2", "L-3"]
GROUPS = {"road": ["L-1", "L-2"], "park": ["L-3"], "all": LIGHTS}
T0 = 1_800_000_000

switches = st.sampled_from([None, True, False])
dims = st.sampled_from([None, 0, 30, 40, 50, 100])
durations = st.integers(min_value=1, max_value=120)
targets = st.one_of(st.tuples(st.just("device"), st.sampled_from(LIGHTS)),
                    st.tuples(st.just("group"), st.sampled_from(sorted(GROUPS))))
ops = st.one_of(
    st.tuples(st.just("hold"), st.sampled_from(["maintenance", "command"]), targets, switches,
              dims, durations),
    st.tuples(st.just("clear"), st.sampled_from(["maintenance", "command"]), targets),
    st.tuples(st.just("advance"), st.integers(min_value=0, max_value=60)),
    st.tuples(st.just("layer"), st.sampled_from(["rule", "schedule"]), st.sampled_from(LIGHTS),
              switches, dims),
)


def _lights(target):
    return [target[1]] if target[0] == "device" else GROUPS[target[1]]


class Model:
    """Every entry ever made; the answer is recomputed from scratch each time."""

    def __init__(self):
        self.entries = []          # [source, target, lights, switch, dim, expires, cleared]
        self.layers = {light: {"failsafe": (True, 100, "failsafe")} for light in LIGHTS}

    def output(self, light, now):
        values = {"switch": None, "dim": None}
        top = None
        for source in SOURCES:
            if source in ("maintenance", "command"):
                said = [(e[3], e[4]) for e in reversed(self.entries) if e[0] == source
                        and light in e[2] and not e[6] and e[5] > now]
            else:
                layer = self.layers[light].get(source)
                said = [] if layer is None else [layer[:2]]
            for switch, dim in said:
                took = False
                for field, value in (("switch", switch), ("dim", dim)):
                    if values[field] is None and value is not None:
                        values[field], took = value, True
                if took and top is None:
                    top = source
        dim = values["dim"] if values["dim"] is not None else 100
        return {"switch": values["switch"], "dim": dim if values["switch"] else 0, "source": top}


@settings(max_examples=400, deadline=None)
@given(st.lists(ops, max_size=40))
@example([("hold", "maintenance", ("device", "L-1"), False, None, 10),     # a newer entry on another
          ("hold", "maintenance", ("group", "road"), True, None, 20),      # target hides it, then is
          ("clear", "maintenance", ("group", "road"))])                    # cleared: it shows again
def test_arbitration_matches_the_reference_model(sequence):
    arb, model, now = Arbiter(LIGHTS), Model(), T0
    before = None
    for op in sequence:
        if op[0] == "hold":
            _, source, target, switch, dim, duration = op
            if switch is None and dim is None:
                continue
            arb.hold(source, target, _lights(target), switch, dim, now + duration, "r")
            model.entries.append([source, target, _lights(target), switch, dim, now + duration, False])
        elif op[0] == "clear":
            _, source, target = op
            ended = arb.release(source, target)
            live = [e for e in model.entries if e[0] == source and e[1] == target
                    and not e[6] and e[5] > now]
            for entry in live:
                entry[6] = True
            assert bool(ended) == bool(live) and len(ended) <= len(live)   # hidden ones were pruned
        elif op[0] == "advance":
            now += op[1]
        else:
            _, source, light, switch, dim = op
            if switch is None and dim is None:
                model.layers[light].pop(source, None)
            else:
                model.layers[light][source] = (switch, dim, source)
        outputs, records = arb.step(now, model.layers)
        for light in LIGHTS:
            assert outputs[light] == model.output(light, now), (light, op, now - T0)
        changed = {light for light in LIGHTS if before is None or before[light] != outputs[light]}
        assert {r["light"] for r in records} == changed
        before = outputs


def test_the_must_show_overlap_falls_back_to_the_plan():
    # city command A: dim 50 for 20 s; B: dim 30 for 10 s starting 5 s later
    arb, model = Arbiter(LIGHTS), Model()
    model.layers["L-1"]["schedule"] = (True, 100, "night")
    arb.hold("command", ("device", "L-1"), ["L-1"], None, 50, T0 + 20, "A")
    assert arb.step(T0, model.layers)[0]["L-1"]["dim"] == 50
    arb.hold("command", ("device", "L-1"), ["L-1"], None, 30, T0 + 15, "B")
    seen = [arb.step(T0 + t, model.layers)[0]["L-1"]["dim"] for t in range(5, 25)]
    assert seen == [30] * 10 + [50] * 5 + [100] * 5


class Device:
    """A light as found: switch on, dim 100; records what is written."""

    def __init__(self):
        self.values = {"switch": 1, "dim": 100}

    async def read(self):
        return dict(self.values)

    async def write(self, point, value):
        self.values[point] = value


class Scheduler:
    async def execute(self, run, priority=0):
        return await run()


class _ListClock:
    """The property test's clock: one number in a list, as monotonic seconds."""

    def __init__(self, now: list):
        self.now = now

    def monotonic(self):
        return self.now[0]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([["L-1"], ["L-1", "L-2"], ["L-2"]]), switches, dims,
                          durations, st.integers(min_value=0, max_value=30)), max_size=12))
def test_direct_commands_show_the_newest_live_one_and_end_as_found(commands):
    clock = [float(T0)]
    devices = {d: Device() for d in ("L-1", "L-2")}
    arb = DirectArbiter(devices, {d: Scheduler() for d in devices}, clock=_ListClock(clock))
    live = []

    async def run():
        for lights, switch, dim, duration, wait in commands:
            if switch is None and dim is None:
                continue
            await arb.apply_city_command(lights, switch, dim, duration)
            live.append((lights, switch, dim, clock[0] + duration))
            clock[0] += wait
            await arb.settle()
            for device_id, device in devices.items():
                for field, found in (("switch", 1), ("dim", 100)):
                    said = [c for c in reversed(live) if device_id in c[0] and c[3] > clock[0]
                            and c[1 if field == "switch" else 2] is not None]
                    value = said[0][1 if field == "switch" else 2] if said else found
                    assert device.values[field] == int(value), (device_id, field, live, clock[0])
        clock[0] += 1000
        await arb.settle()
    asyncio.run(run())
    assert all(d.values == {"switch": 1, "dim": 100} for d in devices.values())
    assert arb.arbiter.entries("command") == [] and arb.found == {}


def test_a_stop_that_lands_as_a_command_arrives_still_ends_the_expiry_loop():
    """Before: run_loop waited with wait_for, which on CPython 3.11 returns when a cancel lands
    in the step a new command wakes it (gh-86296): the loop settled and waited on after its stop."""
    async def body():
        arb = DirectArbiter({"L-001": None}, {"L-001": None})
        arb.arbiter.hold("command", ("lights", "L-001"), ["L-001"], True, None,
                         time.time() + 3600, "city command")   # the loop waits for its expiry
        loop_task = asyncio.create_task(arb.run_loop(), name="test.arbiter")
        for _ in range(3):
            await asyncio.sleep(0)              # the loop waits for a change
        arb._changed.set()                      # a command was applied
        loop_task.cancel()                      # and the stop comes in the same step
        done, _ = await asyncio.wait({loop_task}, timeout=2.0)
        assert done, "the expiry loop went on after it was cancelled"
        assert loop_task.cancelled()
    asyncio.run(body())
