"""Command signatures: HMAC-SHA256 over the exact bytes of the envelope's payload string.

Envelope: {"payload": "<the command as a JSON string>", "sig": "<64 hex chars>"}
sig = hex(HMAC-SHA256(key, payload.encode("utf-8"))). The payload is signed as
the string it is, so neither side needs a canonical JSON form.
"""

import hashlib
import hmac
import json

from agent.errors import BadEnvelope


class BadSignature(BadEnvelope):
    """A well-formed envelope whose signature does not match its payload."""


class NotJson(BadEnvelope):
    """The message is not JSON at all (or nested too deeply to read)."""


def sign(key: bytes, payload: str) -> str:
    """Hex HMAC-SHA256 of the payload's UTF-8 bytes."""
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


def seal(key: bytes, command: dict) -> bytes:
    """A signed envelope for a command (what the city backend sends)."""
    payload = json.dumps(command, separators=(",", ":"))
    return json.dumps({"payload": payload, "sig": sign(key, payload)}).encode()


def envelope_parts(raw: bytes) -> tuple[str, str]:
    """(payload, sig) of an envelope; BadEnvelope if it is not one."""
    try:
        env = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotJson(f"not JSON: {exc}") from None
    except RecursionError:              # "[[[[..." from a stranger (found by fuzzing)
        raise NotJson("not JSON: nested too deeply") from None
    if not isinstance(env, dict) or set(env) != {"payload", "sig"}:
        raise BadEnvelope('expected exactly {"payload": "<json string>", "sig": "<hex>"}')
    payload, sig = env["payload"], env["sig"]
    if not isinstance(payload, str) or not isinstance(sig, str):
        raise BadEnvelope("payload and sig must be strings")
    return payload, sig


def verify(key: bytes, payload: str, sig: str) -> None:
    """Raise BadEnvelope unless sig is the payload's signature (constant-time compare)."""
    if not hmac.compare_digest(sign(key, payload), sig.lower()):
        raise BadSignature("signature does not match (wrong key, or payload altered)")
