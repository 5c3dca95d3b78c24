"""The gate in front of city commands: bounded work for whatever a stranger sends.

Everything on the cmd topic passes here first, on the event loop, before anything is
queued (docs/mqtt.md "Commands under abuse"):

- a message over MAX_MESSAGE_BYTES (16 kB) is refused unread (never parsed);
- then the envelope is parsed and its HMAC checked (microseconds for 16 kB);
- only a verified payload goes on to the command handler and its queue, so a flood of
  forgeries can neither fill the queue nor delay a genuine command;
- an unverified or malformed message is counted per reason (`status.commands.rejected`) and
  answered at most at a bounded rate (a burst of REFUSAL_BURST, then REFUSAL_PER_S a second),
  with the lowest outbox priority (below telemetry: dropped first when the outbox is full),
  echoing at most ID_ECHO_MAX characters of the unverified id. Beyond the rate it is only
  counted (`status.commands.unanswered`). The log says so once per reason per minute.
"""

import json
import logging
import re
import time

from agent.uplink.signing import BadEnvelope, BadSignature, NotJson, envelope_parts, verify

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024
ID_ECHO_MAX = 128
REFUSAL_BURST = 10
REFUSAL_PER_S = 1.0
LOG_EVERY_S = 60.0
SIG = re.compile(r"[0-9a-fA-F]{64}")
REASONS = ("oversized", "not_json", "bad_envelope", "bad_signature", "disabled")


class RateLimit:
    """Token bucket: `burst` at once, refilled at `per_s`."""

    def __init__(self, burst: int, per_s: float, clock=time.monotonic):
        self.burst = burst
        self.per_s = per_s
        self.clock = clock
        self.tokens = float(burst)
        self.at = clock()

    def take(self) -> bool:
        """One token if there is one."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_s)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class CommandIntake:
    """submit(raw) -> accept(payload) for verified messages; bounded refusals for the rest."""

    def __init__(self, key: bytes | None, accept, refuse, clock=time.monotonic):
        self.key = key
        self.accept = accept        # accept(payload str): verified, for the command handler
        self.refuse = refuse        # refuse(id or None, reason): the low-priority ack
        self.clock = clock
        self.rate = RateLimit(REFUSAL_BURST, REFUSAL_PER_S, clock)
        self.rejected = dict.fromkeys(REASONS, 0)
        self.unanswered = 0
        self._logged_at: dict[str, float] = {}

    def submit(self, raw: bytes) -> None:
        """A message arrived on the cmd topic (on the loop; never raises on bad input)."""
        if len(raw) > MAX_MESSAGE_BYTES:
            return self._reject("oversized", None, f"message over {MAX_MESSAGE_BYTES} bytes: "
                                "not read")
        # the one envelope decoder, the one the fuzzer runs (bench/fuzz.py "envelope")
        try:
            payload, sig = envelope_parts(raw)
        except NotJson as exc:
            return self._reject("not_json", None, f"bad envelope: {exc}")
        except BadEnvelope as exc:
            return self._reject("bad_envelope", None, f"bad envelope: {exc}; expected exactly "
                                '{"payload": "<json string>", "sig": "<64 hex>"}')
        if self.key is None:
            return self._reject("disabled", payload, "commands are disabled on this gateway: "
                                "no commands.key_file")
        try:
            if not SIG.fullmatch(sig):
                raise BadEnvelope("sig must be 64 hex characters")
            verify(self.key, payload, sig)
        except BadSignature as exc:
            return self._reject("bad_signature", payload, str(exc))
        except BadEnvelope as exc:
            return self._reject("bad_envelope", payload, f"bad envelope: {exc}")
        self.accept(payload)

    def _reject(self, why: str, payload: str | None, reason: str) -> None:
        self.rejected[why] += 1
        now = self.clock()
        if now - self._logged_at.get(why, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged_at[why] = now
            log.warning("command refused unverified (%s): %s; %d so far (status.commands."
                        "rejected), answered at most %g/s", why, reason, self.rejected[why],
                        REFUSAL_PER_S)
        if not self.rate.take():
            self.unanswered += 1
            return
        self.refuse(peek_id(payload) if payload is not None else None, reason)

    def status(self) -> dict:
        """Counters for status.commands."""
        return {"rejected": dict(self.rejected), "unanswered": self.unanswered}


def peek_id(payload: str):
    """The (unverified) command id, cut to ID_ECHO_MAX characters, if it can be read at all."""
    try:
        cmd = json.loads(payload)
    except (ValueError, RecursionError):    # RecursionError: "[[[[..." under a valid-looking sig
        return None
    value = cmd.get("id") if isinstance(cmd, dict) else None
    return value[:ID_ECHO_MAX] if isinstance(value, str) else None
