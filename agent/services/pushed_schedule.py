"""The schedule the city pushed last: validated, kept on disk across restarts, run by lighting."""

import json
import logging
from pathlib import Path

from agent.config.lighting import build_lighting, lighting_problems
from agent.config.models import GatewayConfig
from agent.config.text import format_path
from agent.errors import Refused
from agent.store.statefile import load_or_quarantine, write_atomic_off_loop

log = logging.getLogger("lentera")


class PushedSchedule:
    """The pushed lighting section in `commands.schedule_file`; gateway.yaml's when there is none."""

    def __init__(self, config: GatewayConfig, on_corrupt):
        self.config = config
        self.on_corrupt = on_corrupt          # (path, moved aside to, exception): tell the city

    def load(self):
        """The pushed schedule's controller, if one was stored and is still valid; else None."""
        if self.config.lighting is None:
            return None
        return load_or_quarantine(self.config.commands.schedule_file, self._load, self.on_corrupt)

    def _load(self, path: Path):
        lighting = json.loads(path.read_text(encoding="utf-8"))
        self._check(lighting, "pushed", ValueError)
        controller = build_lighting(self.config, lighting)
        log.info("lighting: using the schedule pushed by the city (%s)", path)
        return controller

    def current(self) -> dict:
        """The lighting section that runs now as data: the pushed one, else gateway.yaml's."""
        try:
            lighting = json.loads(Path(self.config.commands.schedule_file).read_text("utf-8"))
            self._check(lighting, "pushed", ValueError)
            return lighting
        except (OSError, ValueError):
            return self.config.lighting

    def _check(self, lighting: dict, where: str, error: type) -> None:
        problems = lighting_problems(self.config, lighting, where)
        if problems:
            raise error(f"{format_path(problems[0][0])}: {problems[0][1]}")

    async def push(self, lighting: dict, service) -> None:
        """A schedule from the city: validate, keep it on disk, then run it; Refused if not."""
        self._check(lighting, "schedule", Refused)
        try:
            await write_atomic_off_loop(self.config.commands.schedule_file,
                                        json.dumps(lighting).encode())
        except OSError as exc:
            raise Refused(f"cannot store the schedule ({exc.strerror}): not applied") from None
        await service.replace_controller(build_lighting(self.config, lighting))
