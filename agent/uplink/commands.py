"""Verified commands from the city: validate, refuse replays and stale ones, execute, ack.

Envelope, size and signature are checked before this, by agent/uplink/intake.py; what
reaches this handler is signed with the gateway's key. Every verified command gets exactly
one ack on {prefix}/{gw}/ack: {"id", "result": "done" | "refused" | "failed" | "error",
"reason"} (docs/mqtt.md). Checks, in order: schema, addressed to this gateway, clock
trusted (for commands that change something), not expired and not too far ahead, targets
known, not stale and id not seen before (agent/store/replay.py), then execution through
the arbiter port. `error`: the gateway itself failed (e.g. its disk is full), nothing done.
"""

import json
import logging
from collections import deque
from typing import Annotated, Literal, Union

import asyncio
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.errors import LenteraError, Refused

log = logging.getLogger(__name__)

QUEUE_MAX = 32      # commands waiting to run; beyond that the newest is refused "busy"
CLOCK_SLACK_MS = 300_000   # the clock may lag the replay horizon this much (backend skew)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Model):
    """One light (device) or a configured group."""

    device: str | None = None
    group: str | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.device is None) == (self.group is None):
            raise ValueError("give exactly one of device or group")
        return self


class _Base(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
    gateway: str
    expires_at: int = Field(gt=0, description="epoch milliseconds; refused after this")
    issued_at: int | None = Field(default=None, gt=0, description=(
        "epoch milliseconds, the backend's clock when it signed the command (recommended: "
        "it sharpens the replay horizon, docs/mqtt.md)"))

    @model_validator(mode="after")
    def _issued_first(self):
        if self.issued_at is not None and self.issued_at >= self.expires_at:
            raise ValueError("issued_at must be before expires_at")
        return self


class Switch(_Base):
    """Switch lights on or off, optionally for a while."""

    kind: Literal["switch"]
    target: Target
    on: bool
    duration_s: float | None = Field(default=None, gt=0, le=7 * 86400)


class Dim(_Base):
    """Set the dim level (percent), optionally for a while."""

    kind: Literal["dim"]
    target: Target
    level: int = Field(ge=0, le=100)
    duration_s: float | None = Field(default=None, gt=0, le=7 * 86400)


class Snapshot(_Base):
    """Ask for a status snapshot (in the ack's details, and on the status topic)."""

    kind: Literal["snapshot"]


class Schedule(_Base):
    """Push a new lighting section (same shape as gateway.yaml's `lighting:`)."""

    kind: Literal["schedule"]
    schedule: dict


Command = Annotated[Union[Switch, Dim, Snapshot, Schedule], Field(discriminator="kind")]


class CommandEnvelope(_Model):
    """What arrives on the cmd topic."""

    payload: str = Field(description="the command, as a JSON string; signed byte for byte")
    sig: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="hex HMAC-SHA256(key, payload)")


class _CommandDoc(_Model):
    command: Command


class CommandHandler:
    """Takes verified payloads, answers each with exactly one ack; never raises on bad input."""

    def __init__(self, gateway_id: str, max_ttl_s: float, groups: dict, devices, arbiter,
                 outbox, send_ack, snapshot, clock_ms, trusted=lambda: True):
        self.gateway_id = gateway_id
        self.max_ttl_ms = int(max_ttl_s * 1000)
        self.groups = groups
        self.devices = devices          # known device ids
        self.arbiter = arbiter
        self.outbox = outbox            # remember_command(...) -> verdict; newest_issued
        self.send_ack = send_ack        # send_ack(id, result, reason, details)
        self.snapshot = snapshot        # async () -> status dict
        self.clock_ms = clock_ms        # the agent's wall clock, epoch ms
        self.trusted = trusted          # () -> whether that clock is synchronised
        self.counts = {"done": 0, "refused": 0, "failed": 0, "error": 0}
        # async (lighting dict) -> None; raises Refused. None: schedules cannot be pushed
        self.push_schedule = None
        self._queue: deque = deque()
        self._wake = asyncio.Event()

    def submit(self, payload: str) -> None:
        """A verified payload (called on the loop, must not block)."""
        if len(self._queue) >= QUEUE_MAX:
            self._answer(_payload_id(payload), "refused",
                         "busy: too many commands waiting; retry")
            return
        self._queue.append(payload)
        self._wake.set()

    async def run_loop(self) -> None:
        """Handle queued commands one at a time, forever."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self.handle(self._queue.popleft())

    async def handle(self, payload: str) -> None:
        """Check and execute one verified command; exactly one ack whatever happens."""
        command_id = _payload_id(payload)
        try:
            command = self._check(payload)
            command_id = command.id
            result, reason, details = await self._execute(command)
        except Refused as exc:
            result, reason, details = "refused", str(exc), None
        except LenteraError as exc:       # our own storage or field failed: say so, go on
            result, reason, details = "error", str(exc), None
        self._answer(command_id, result, reason, details)

    def _answer(self, command_id, result, reason, details=None):
        self.counts[result] += 1
        log.log(logging.INFO if result == "done" else logging.WARNING,
                "command %s: %s%s", command_id, result, f" ({reason})" if reason else "")
        self.send_ack(command_id, result, reason, details)

    def _check(self, payload: str):
        try:
            command = _CommandDoc.model_validate({"command": json.loads(payload)}).command
        except ValueError as exc:      # JSON or schema (ValidationError is a ValueError)
            raise Refused(f"invalid command: {_first_error(exc)}") from None
        if command.gateway != self.gateway_id:
            raise Refused(f"addressed to gateway {command.gateway!r}, this is "
                          f"{self.gateway_id!r}")
        now = self.clock_ms()
        if not isinstance(command, Snapshot):
            self._check_clock(now)
        if command.expires_at <= now:
            raise Refused(f"expired {(now - command.expires_at) / 1000:.0f} s ago "
                          "(check the gateway's and the backend's clocks)")
        if command.expires_at > now + self.max_ttl_ms:
            raise Refused(f"expires more than {self.max_ttl_ms // 1000} s ahead")
        if command.issued_at is not None and command.issued_at > now + CLOCK_SLACK_MS:
            # accepted, it would move the replay horizon ahead and block every later command
            raise Refused(f"clock_untrusted: issued_at is {(command.issued_at - now) / 1000:.0f}"
                          " s ahead of this gateway's clock; check the backend's clock")
        return command

    def _check_clock(self, now: int) -> None:
        if not self.trusted():
            raise Refused("clock_untrusted: the gateway's clock is not synchronised (NTP), "
                          "so expiry cannot be checked; commands that change lights are "
                          "refused until it is (snapshot still works)")
        horizon = self.outbox.newest_issued
        if horizon and now < horizon - CLOCK_SLACK_MS:
            raise Refused(f"clock_untrusted: the gateway's clock is {(horizon - now) / 1000:.0f}"
                          " s behind a command accepted earlier; check its NTP/RTC")

    def _targets(self, target: Target) -> list[str]:
        if target.device is not None:
            if target.device not in self.devices:
                raise Refused(f"unknown device {target.device!r}")
            return [target.device]
        if target.group not in self.groups:
            raise Refused(f"unknown group {target.group!r}")
        return list(self.groups[target.group])

    async def _execute(self, command):
        targets = self._targets(command.target) if hasattr(command, "target") else []
        if isinstance(command, Schedule) and self.push_schedule is None:
            raise Refused("this gateway has no lighting section: add one to gateway.yaml "
                          "before pushing schedules")
        issued = command.issued_at or command.expires_at - self.max_ttl_ms
        verdict = await self.outbox.remember_command(command.id, command.expires_at, issued,
                                                     self.clock_ms(), self.max_ttl_ms)
        if verdict == "replayed":
            raise Refused("replayed: this command id was already received")
        if verdict == "stale":
            raise Refused("stale: it expired before a command accepted earlier was issued "
                          "(a replay of an old command, or the backend's clock went back)")
        if isinstance(command, Schedule):
            await self.push_schedule(command.schedule)
            return "done", None, {"groups": sorted(command.schedule.get("groups", {}))}
        if isinstance(command, Snapshot):
            return "done", None, await self.snapshot()
        switch = command.on if isinstance(command, Switch) else None
        dim = command.level if isinstance(command, Dim) else None
        outcome = await self.arbiter.apply_city_command(targets, switch, dim, command.duration_s)
        failed = {d: err for d, err in outcome.items() if err}
        if failed:
            return ("failed", f"{len(failed)} of {len(outcome)} device(s) failed",
                    {"devices": failed})
        return "done", None, {"devices": sorted(outcome)}


def _payload_id(payload: str):
    """The command id if it can be read at all (for the ack of a refused command)."""
    try:
        cmd = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    value = cmd.get("id") if isinstance(cmd, dict) else None
    return value[:128] if isinstance(value, str) else None


def _first_error(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"][1:] if p not in (
            "switch", "dim", "snapshot", "schedule")) or "command"
        return f"{where}: {err['msg']}"
    return f"not JSON: {exc}"
