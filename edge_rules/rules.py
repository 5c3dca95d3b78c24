"""Declarative rules over live points: when/for/until state machines that switch, dim and raise alarms."""

from edge_rules.errors import RuleConfigError, collect
from edge_rules.expr import ExprError, evaluate, parse, truthy
from edge_rules.schedule import check_keys, number, require
from edge_rules.timespec import parse_duration

RULE_KEYS = ("when", "for", "until", "then")
ACTION_KEYS = ("switch", "dim", "alarm", "group", "device", "severity")
SEVERITIES = ("minor", "major", "critical")


def _expr(raw, groups: dict, path: str):
    try:
        return parse(raw, groups)
    except ExprError as exc:
        raise RuleConfigError(path, str(exc))


def _switch_value(value, path: str) -> bool:
    # YAML 1.1 reads a bare `on`/`off` as a boolean, so accept both spellings
    if value is True or value in ("on", "ON", "On"):
        return True
    if value is False or value in ("off", "OFF", "Off"):
        return False
    raise RuleConfigError(path, "expected on or off, got %r" % (value,))


def listing(names, most: int = 6) -> str:
    """'a, b, c' of the first few names sorted, '... (N in all)' past that; 'none' if empty."""
    names = sorted(str(n) for n in names)
    if not names:
        return "none"
    more = " ... (%d in all)" % len(names) if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _targets(raw: dict, groups: dict, devices: list, path: str) -> list:
    if ("group" in raw) == ("device" in raw):
        raise RuleConfigError(path, "switch and dim actions need exactly one of group or device")
    if "group" in raw:
        if raw["group"] not in groups:
            raise RuleConfigError(path + ".group", "unknown group %r: groups are %s"
                              % (raw["group"], listing(groups)))
        return list(groups[raw["group"]])
    if raw["device"] not in devices:
        raise RuleConfigError(path + ".device", "unknown device %r: lights under groups are %s"
                              % (raw["device"], listing(devices)))
    return [raw["device"]]


def _action(raw, groups: dict, devices: list, path: str) -> tuple:
    """('light', targets, switch, dim) or ('alarm', severity, message)."""
    check_keys(raw, ACTION_KEYS, path)
    kinds = [k for k in ("switch", "dim", "alarm") if k in raw]
    if len(kinds) != 1:
        raise RuleConfigError(path, "an action is exactly one of switch, dim or alarm")
    if kinds[0] == "alarm":
        severity = raw.get("severity", "major")
        if severity not in SEVERITIES:
            raise RuleConfigError(path + ".severity", "use one of %s" % ", ".join(SEVERITIES))
        return ("alarm", severity, str(raw["alarm"]))
    targets = _targets(raw, groups, devices, path)
    if kinds[0] == "switch":
        return ("light", targets, _switch_value(raw["switch"], path + ".switch"), None)
    return ("light", targets, None, int(number(raw["dim"], path + ".dim", 0, 100)))


def check_rule(raw, groups: dict, devices: list, path: str, errors: list) -> list:
    """Every problem of one rule appended to errors (Rule() stops at the first); its parsed trees."""
    if not isinstance(raw, dict):
        errors.append(RuleConfigError(path, "expected a mapping, got %r" % (raw,)))
        return []
    for key in raw:
        if key not in RULE_KEYS:
            errors.append(RuleConfigError(path + "." + str(key), "unknown key: allowed are %s" % ", ".join(RULE_KEYS)))
    trees = []
    for key in ("when", "until"):
        if key in raw:
            tree = collect(errors, _expr, raw[key], groups, path + "." + key)
            if tree is not None:
                trees.append((path + "." + key, tree))
    if "when" not in raw:
        errors.append(RuleConfigError(path + ".when", "missing"))
    if "for" in raw:
        collect(errors, parse_duration, raw["for"], path + ".for")
    actions = raw.get("then")
    if not isinstance(actions, list) or not actions:
        errors.append(RuleConfigError(path + ".then", "missing" if actions is None else "expected a non-empty list of actions"))
        actions = []
    for i, action in enumerate(actions):
        collect(errors, _action, action, groups, devices, "%s.then[%d]" % (path, i))
    return trees


class Rule:
    """One rule: active once `when` has held for `for`, released by `until` (or when `when` fails)."""

    def __init__(self, name: str, raw, groups: dict, devices: list, path: str):
        check_keys(raw, RULE_KEYS, path)
        self.name = name
        self.when_text = str(require(raw, "when", path))
        self.when = _expr(self.when_text, groups, path + ".when")
        self.until = _expr(raw["until"], groups, path + ".until") if "until" in raw else None
        self.hold_s = parse_duration(raw["for"], path + ".for") if "for" in raw else 0
        actions = require(raw, "then", path)
        if not isinstance(actions, list) or not actions:
            raise RuleConfigError(path + ".then", "expected a non-empty list of actions")
        self.actions = [_action(a, groups, devices, "%s.then[%d]" % (path, i)) for i, a in enumerate(actions)]
        self.active = False
        self.since = None

    def step(self, monotonic_s: float, points: dict, groups: dict):
        """Advance the state machine; 'raised', 'cleared' or None for what changed."""
        if self.active:
            if self.until is not None:
                release = truthy(evaluate(self.until, points, groups))
            else:
                release = not truthy(evaluate(self.when, points, groups))
            if release:
                self.active, self.since = False, None
                return "cleared"
            return None
        if not truthy(evaluate(self.when, points, groups)):
            self.since = None
            return None
        if self.since is None:
            self.since = monotonic_s
        if monotonic_s - self.since >= self.hold_s:
            self.active = True
            return "raised"
        return None


class RuleSet:
    """All rules in config order; produces per-device decisions and alarm events."""

    def __init__(self, raw, groups: dict, path: str = "rules"):
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise RuleConfigError(path, "expected a mapping of rule name to rule")
        self.groups = groups
        devices = []
        for members in groups.values():
            devices.extend(members)
        self.rules = [Rule(str(n), body, groups, devices, path + "." + str(n)) for n, body in raw.items()]

    def step(self, now_s: int, monotonic_s: float, points: dict) -> tuple:
        """({device: (switch, dim, reason)}, [alarm event]) after advancing every rule."""
        decisions = {}
        alarms = []
        for rule in self.rules:
            change = rule.step(monotonic_s, points, self.groups)
            for action in rule.actions:
                if action[0] == "alarm" and change is not None:
                    alarms.append({"rule": rule.name, "severity": action[1], "message": action[2],
                                   "state": change, "ts": now_s})
                elif action[0] == "light" and rule.active:
                    self._merge(decisions, action, "rule %s (%s)" % (rule.name, rule.when_text))
        return decisions, alarms

    @staticmethod
    def _merge(decisions: dict, action: tuple, reason: str) -> None:
        # per field, the first active rule in config order wins
        for device in action[1]:
            switch, dim, why = decisions.get(device, (None, None, reason))
            if switch is None and action[2] is not None:
                switch = action[2]
            if dim is None and action[3] is not None:
                dim = action[3]
            decisions[device] = (switch, dim, why)
