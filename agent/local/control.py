"""Local control socket: maintenance crews override lights on site, with or without uplink.

A Unix socket next to the agent (permissions are the access control: the
lentera user and group only). One JSON request per line, one JSON answer per
line. `lentera override` and `lentera lights` are its clients. Who asked is
read from the kernel (SO_PEERCRED), never from the request: every override
event and log line names that user.
"""

import asyncio
import json
import logging
import os
import pwd
import socket
import struct

from agent.errors import ControlError

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0
MAX_REQUEST_BYTES = 4096


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
                if len(line) > MAX_REQUEST_BYTES:
                    raise ControlError(f"a request is at most {MAX_REQUEST_BYTES} bytes")
                user = peer_user(writer.get_extra_info("socket"))
                answer = {"ok": True, **await self.handle(json.loads(line), user)}
            except (ControlError, ValueError, TypeError) as exc:
                answer = {"ok": False, "error": str(exc)}
            writer.write(json.dumps(answer).encode() + b"\n")
            await asyncio.wait_for(writer.drain(), REQUEST_TIMEOUT_S)
        except (asyncio.TimeoutError, ConnectionError, ValueError):
            pass                              # a client that went away (or flooded) costs nothing
        finally:
            writer.close()

    async def handle(self, request: dict, user: str | None = None) -> dict:
        """Execute one request: {"op": "override" | "clear" | "lights", ...} from `user`."""
        if not isinstance(request, dict):
            raise ControlError('a request is one JSON object, e.g. {"op": "lights"}')
        if request.get("op") == "status" and self.status is not None:
            return {"status": await self.status()}
        if self.lighting is None:
            raise ControlError("this gateway has no lighting section: overrides need one")
        op = request.get("op")
        if op == "lights":
            return {**self.lighting.lights(), **self._clock_fields()}
        target = {k: request.get(k) for k in ("device", "group")}
        if op == "clear":
            return await self.lighting.clear(user=user, **target)
        if op == "override":
            answer = await self.lighting.override(
                switch=request.get("switch"), dim=request.get("dim"), for_s=request.get("for_s"),
                reason=request.get("reason"), user=user, **target)
            return {**answer, **self._clock_fields()}
        raise ControlError(f"unknown op {op!r}: use override, clear or lights")

    def _clock_fields(self) -> dict:
        """What a client needs to show the times of an answer as the gateway reads them."""
        return {"timezone": getattr(self.lighting.controller.sky.tz, "name", None),
                "simulated": bool(getattr(self.lighting.clock, "warped", False))}


def peer_user(sock) -> str:
    """The user name of the process at the other end of a Unix socket (uid if it has no name)."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return "unknown"
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return "unknown"
    _pid, uid, _gid = struct.unpack("3i", creds)
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


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
