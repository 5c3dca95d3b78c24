"""Errors raised by edge_rules, the pure core's own branch of the error tree.

The core imports nothing of the agent (MicroPython, no I/O), so its root is its own; the agent
turns these into ConfigError or a refused command at the boundary.
"""


class EdgeRulesError(ValueError):
    """Base of every error the pure lighting core raises on purpose."""


class ExprError(EdgeRulesError):
    """An expression that cannot be parsed; the message says where and why."""


class RuleConfigError(EdgeRulesError):
    """A rule, schedule or calendar in the config is invalid; names the config path and the reason."""

    def __init__(self, path, message):
        self.path = path
        self.message = message
        super().__init__("%s: %s" % (path, message) if path else message)

    def __str__(self):
        return "%s: %s" % (self.path, self.message) if self.path else self.message


def collect(errors: list, fn, *args):
    """fn(*args), or None with its RuleConfigError appended to errors (a check that goes on)."""
    try:
        return fn(*args)
    except RuleConfigError as exc:
        errors.append(exc)
        return None


class ArbitrationFull(EdgeRulesError):
    """A held source (overrides or city commands) has MAX_ENTRIES live entries: nothing was held."""
