"""A small city for the picture tests: lights on a street grid in the registry, and messages
fed through the ingest's own path (decode, then BatchWriter in one transaction)."""

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import asyncpg

from agent.fleet.decode import decode
from agent.fleet.registry import import_lights
from agent.fleet.writer import BatchWriter
from tests.support.broker import free_port

REPO = Path(__file__).resolve().parents[3]

LAT0, LON0 = -6.1780, 106.6320        # Tangerang
STEP = 0.0005                          # ~55 m between poles


def ms(when: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(when.timestamp() * 1000)


def grid(columns: int, rows: int, gateways: int = 4) -> list[tuple]:
    """Registry rows (gateway, device, pole, group, office, lon, lat), one light per crossing,
    columns split among the gateways; group north/south by row."""
    lights = []
    for c in range(columns):
        for r in range(rows):
            gw = f"gw-{c * gateways // columns:02d}"
            lights.append((gw, f"L-{c:03d}-{r:03d}", f"TNG-{c:03d}-{r:03d}",
                           "north" if r >= rows // 2 else "south", f"office-{gw[-1]}",
                           round(LON0 + c * STEP, 7), round(LAT0 + r * STEP, 7)))
    return lights


async def _write(dsn: str, records: list, lights: list | None) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        if lights:
            await import_lights(conn, lights)
        if records:
            result = await BatchWriter(conn).write(records)
            assert not result.rejected, result.rejected
    finally:
        await conn.close()


def feed(dsn: str, messages: list[tuple[str, dict]], lights: list | None = None) -> None:
    """Register `lights` (if given), then decode and commit (topic suffix, body) messages as
    one ingest batch: ('gw-00/telemetry/L-000-000', {...})."""
    records = [decode(f"city/lighting/{topic}", json.dumps(body).encode())
               for topic, body in messages]
    asyncio.run(_write(dsn, records, lights))


class Messages:
    """Contract-exact bodies (docs/mqtt.md), one seq counter per gateway."""

    def __init__(self):
        self.seqs: dict[str, int] = {}

    def _seq(self, gateway: str) -> int:
        self.seqs[gateway] = self.seqs.get(gateway, 0) + 1
        return self.seqs[gateway]

    def reading(self, gateway: str, device: str, when: datetime, energy: float = 1000.0,
                power: float = 90.0, lamp: int = 1) -> tuple[str, dict]:
        return (f"{gateway}/telemetry/{device}",
                {"ts": ms(when), "seq": self._seq(gateway), "quality": "good",
                 "values": {"power": power, "energy": energy, "lamp_state": lamp}})

    def fault(self, gateway: str, device: str, kind: str, when: datetime,
              state: str = "raised") -> tuple[str, dict]:
        return (f"{gateway}/events/{device}",
                {"ts": ms(when), "seq": self._seq(gateway), "event": kind, "state": state,
                 "evidence": {"power": 0.0}})

    def status(self, gateway: str, when: datetime, state: str = "online") -> tuple[str, dict]:
        return (f"{gateway}/status", {"ts": ms(when), "state": state,
                                      "outbox": {"dropped": 0, "backlog": 0}})


def utc(*args) -> datetime:
    """datetime(*args) in UTC."""
    return datetime(*args, tzinfo=timezone.utc)


STAFF = ("staff", "street lights 2026")        # the login `serving` makes
_TOKENS: dict[str, str] = {}                   # served URL -> the GIS token it made


@contextmanager
def serving(dsn: str, log_path: Path, comm_after: int = 900):
    """`lentera fleet serve` as a city runs it (a process of its own), with the login STAFF
    and a GIS token (get_json sends it); yields its URL."""
    from agent.fleet.access import AccessFile
    port = free_port()
    access = AccessFile(log_path.with_name("access.json"))
    access.add_user(*STAFF)
    url = f"http://127.0.0.1:{port}"
    _TOKENS[url] = access.add_token("city-gis")
    log = log_path.open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "agent.fleet.cli", "serve", "--db", dsn,
                             "--listen", f"127.0.0.1:{port}", "--comm-after", str(comm_after),
                             "--access", str(access.path)],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                get_json(url + "/api/faults.geojson")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        _TOKENS.pop(url, None)


def get_json(url: str):
    """GET a JSON/GeoJSON answer, with the token of the server `serving` started."""
    token = next(t for base, t in _TOKENS.items() if url.startswith(base + "/"))
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def log_in(page, url: str) -> None:
    """Log a Playwright page in as STAFF through the form; it lands on the map."""
    page.goto(url + "/")
    page.fill("input[name=name]", STAFF[0])
    page.fill("input[name=password]", STAFF[1])
    page.click("button[type=submit]")
