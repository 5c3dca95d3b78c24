"""The switching plan from the config alone: when each light's timetable output changes, and why.

What the agent will do with a trusted clock, no overrides, no city commands and no rule active
(rules need live readings; they are listed apart). `lentera plan` prints it; the agent's
`output_changed` events on such a night are the same steps, at its step period.
"""

from edge_rules.arbitration import Arbiter

SCAN_S = 60     # two changes of one group less than this apart would be seen as one


def _state_fn(controller, light: str):
    arb = Arbiter(controller.devices)

    def state(t: int) -> tuple:
        layers = controller._plan_layers(t, {}, True, "clock trusted")[0]
        out, source, reason = arb.decide(light, layers.get(light, {}))
        return (out["switch"], out["dim"], source), reason
    return state


def _first_change(state, lo: int, hi: int, before: tuple) -> int:
    """Smallest t in (lo, hi] whose state differs from `before` (state(hi) does)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if state(mid)[0] != before:
            hi = mid
        else:
            lo = mid
    return hi


def _changes(state, start_s: int, end_s: int) -> list:
    """[(ts, (switch, dim, source), reason)]: the state at start_s, then each change before end_s."""
    now, reason = state(start_s)
    found = [(start_s, now, reason)]
    t = start_s
    while t < end_s:
        nxt = min(t + SCAN_S, end_s)
        if state(nxt)[0] != now:
            at = _first_change(state, t, nxt, now)
            now, reason = state(at)
            found.append((at, now, reason))
            t = at
        else:
            t = nxt
    return found


def timeline(controller, start_s: int, end_s: int) -> list:
    """[{ts, light, group, switch, dim, source, reason}] of every timetable change in [start_s, end_s), by time."""
    steps = []
    for group, lights in controller.groups.items():
        # every light of a group has the same timetable: compute once, report per light
        for ts, (switch, dim, source), reason in _changes(_state_fn(controller, lights[0]), start_s, end_s):
            if ts >= end_s:
                continue
            for light in lights:
                steps.append({"ts": ts, "light": light, "group": group, "switch": switch, "dim": dim,
                              "source": source, "reason": reason})
    steps.sort(key=lambda s: (s["ts"], s["light"]))
    return steps


def describe_rules(controller) -> list:
    """One line per rule that may take over from the timetable when its readings say so."""
    lines = []
    for rule in controller.rules.rules:
        acts = []
        for action in rule.actions:
            if action[0] == "alarm":
                acts.append("alarm %s (%s)" % (action[2], action[1]))
            else:
                what = "switch %s" % ("on" if action[2] else "off") if action[2] is not None else "dim %d" % action[3]
                acts.append("%s on %s" % (what, ", ".join(action[1])))
        lines.append("rule %s: when %s -> %s" % (rule.name, rule.when_text, "; ".join(acts)))
    return lines
