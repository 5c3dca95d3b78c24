"""Local control socket: maintenance crews override lights on site, with or without uplink.

A Unix socket next to the agent (permissions are the access control: the
lentera user and group only). One JSON request per line, one JSON answer per
line. `lentera override` and `lentera lights` are its clients.
"""

import asyncio
import json
import logging
import os

from agent.store.outbox import EVENT

log = logging.getLogger(__name__)

MAX_OVERRIDE_S = 7 * 86400
REQUEST_TIMEOUT_S = 10.0


class ControlError(ValueError):
    """A request the crew has to correct; the message says how."""


class ControlServer:
    """Serves override / clear / lights requests against the running lighting service."""

    def __init__(self, path: str, lighting, emit_event, wall, status=None):
        self.path = path
        self.status = status                  # async () -> dict: the "status" op
        self.lighting = lighting
        self.emit_event = emit_event
        self.wall = wall

    async def serve_loop(self) -> None:
        """Listen until cancelled; the socket file is removed on the way out."""
        if os.path.exists(self.path):
            os.unlink(self.path)              # a stale socket from a crash
        server = await asyncio.start_unix_server(self._client, path=self.path)
        os.chmod(self.path, 0o660)
        try:
            await asyncio.Event().wait()      # serve until cancelled
        finally:
            server.close()
            await server.wait_closed()
            if os.path.exists(self.path):
                os.unlink(self.path)

    async def _client(self, reader, writer) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT_S)
            try:
                answer = {"ok": True, **await self.handle(json.loads(line))}
            except (ControlError, ValueError, TypeError) as exc:
                answer = {"ok": False, "error": str(exc)}
            writer.write(json.dumps(answer).encode() + b"\n")
            await asyncio.wait_for(writer.drain(), REQUEST_TIMEOUT_S)
        except (asyncio.TimeoutError, ConnectionError):
            pass                              # a client that went away costs nothing
        finally:
            writer.close()

    async def handle(self, request: dict) -> dict:
        """Execute one request: {"op": "override" | "clear" | "lights", ...}."""
        if not isinstance(request, dict):
            raise ControlError('a request is one JSON object, e.g. {"op": "lights"}')
        if request.get("op") == "status" and self.status is not None:
            return {"status": await self.status()}
        if self.lighting is None:
            raise ControlError("this gateway has no lighting section: overrides need one")
        op = request.get("op")
        if op == "lights":
            return {"lights": self.lighting.outputs, "write_errors": self.lighting.write_errors}
        target = {k: request[k] for k in ("device", "group") if request.get(k)}
        if len(target) != 1:
            raise ControlError("name exactly one of device or group")
        if op == "clear":
            self.lighting.controller.clear("maintenance", **target)
            await self.lighting.step()
            self._event(target, "cleared", request)
            return {"cleared": target}
        if op == "override":
            return await self._override(target, request)
        raise ControlError(f"unknown op {op!r}: use override, clear or lights")

    async def _override(self, target: dict, request: dict) -> dict:
        switch, dim, seconds = request.get("switch"), request.get("dim"), request.get("for_s")
        if switch is None and dim is None:
            raise ControlError("give switch, dim or both")
        if switch is not None and not isinstance(switch, bool):
            raise ControlError("switch must be true or false")
        if dim is not None and not (isinstance(dim, int) and 0 <= dim <= 100):
            raise ControlError("dim must be a whole percentage 0..100")
        if not isinstance(seconds, (int, float)) or not 0 < seconds <= MAX_OVERRIDE_S:
            raise ControlError("for_s must be 1 s .. 7 days: an override always ends")
        reason = str(request.get("reason") or "maintenance on site")
        expires = int(self.wall() + seconds)
        self.lighting.controller.apply_override(expires, switch=switch, dim=dim, reason=reason,
                                                **target)
        written = await self.lighting.step()
        self._event(target, "set", request, expires_s=expires)
        return {"expires_s": expires, "written": written}

    def _event(self, target: dict, state: str, request: dict, **extra) -> None:
        device = target.get("device") or "gateway"
        fields = {"state": state, **extra}
        if "group" in target:
            fields["group"] = target["group"]
        for key in ("switch", "dim", "reason"):
            if request.get(key) is not None:
                fields[key] = request[key]
        log.info("maintenance override %s: %s", state, fields)
        self.emit_event(device, "maintenance_override", EVENT, **fields)


async def request(path: str, payload: dict, timeout: float = REQUEST_TIMEOUT_S) -> dict:
    """Client side: send one request to the agent's control socket and return its answer."""
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), timeout)
    try:
        writer.write(json.dumps(payload).encode() + b"\n")
        await asyncio.wait_for(writer.drain(), timeout)
        line = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
    if not line:
        raise ConnectionError("the agent closed the connection without an answer")
    return json.loads(line)
