"""Errors raised by edge_rules: configuration problems found when rules are loaded."""


class RuleConfigError(ValueError):
    """A rule, schedule or calendar in the config is invalid; names the config path and the reason."""

    def __init__(self, path, message):
        self.path = path
        self.message = message
        super().__init__("%s: %s" % (path, message) if path else message)

    def __str__(self):
        return "%s: %s" % (self.path, self.message) if self.path else self.message
