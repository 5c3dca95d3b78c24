"""Provisioning's errors: every problem found, each naming the row, column or file."""

from agent.errors import ConfigError


class ProvisionError(ConfigError):
    """The fleet, template, CA or a bundle is not usable; `problems` lists every reason."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = list(problems)
        super().__init__(source, f"{len(problems)} problem(s):\n  " + "\n  ".join(problems))
