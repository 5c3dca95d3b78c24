"""`lentera simulate` runtime: the site's server, simulated serial sensors, timed fault injection."""

import asyncio
import json
import os
from pathlib import Path

from drivers.sim.serial_emitters import run_serial_sensor
from drivers.sim.streetlight import FAULT_KINDS


def parse_injection(text: str) -> tuple[str, int, float]:
    """'lampFailure:7' or 'cycling:3@60' -> (kind, unit, delay in seconds)."""
    spec, _, delay = text.partition("@")
    kind, _, unit = spec.partition(":")
    if kind not in FAULT_KINDS or not unit.isdigit():
        raise ValueError(f"{text!r}: write KIND:UNIT[@SECONDS], KIND one of "
                         f"{', '.join(FAULT_KINDS)}")
    try:
        seconds = float(delay) if delay else 0.0
    except ValueError:
        raise ValueError(f"{text!r}: the delay after @ must be seconds") from None
    return kind, int(unit), seconds


def _link(target: str, link: str) -> None:
    """Point `link` at the pty `target` (replacing a stale link from an earlier run)."""
    path = Path(link)
    if path.is_symlink() or path.exists():
        if not path.is_symlink():
            raise OSError(f"{link} exists and is not a symlink: choose another path")
        path.unlink()
    os.symlink(target, link)


async def _sensor(kind: str, link: str, announce) -> None:
    def ready(pty: str) -> None:
        _link(pty, link)
        announce(f"simulated {kind} on {pty} (linked at {link})")
    try:
        await run_serial_sensor(kind, on_ready=ready)
    finally:
        if Path(link).is_symlink():
            Path(link).unlink()


async def _inject_later(site, kind: str, unit: int, delay: float, labels_path, announce):
    await asyncio.sleep(delay)
    site.inject(unit, kind)
    announce(f"injected {kind} on unit {unit}")
    if labels_path:
        with open(labels_path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"unit": unit, "kind": kind, "start": site.clock()}) + "\n")


async def run_simulation(site, serve, sensors, injections, labels_path, stop, announce) -> None:
    """Serve until stop is set; a crashed server raises, the other tasks are cancelled."""
    tasks = [asyncio.create_task(serve())]
    tasks += [asyncio.create_task(_sensor(kind, link, announce)) for kind, link in sensors]
    tasks += [asyncio.create_task(_inject_later(site, k, u, d, labels_path, announce))
              for k, u, d in injections]
    waiter = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({waiter, *tasks[:1 + len(sensors)]},
                                     return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter and task.exception():
                raise task.exception()
    finally:
        for task in tasks + [waiter]:
            task.cancel()
        await asyncio.gather(*tasks, waiter, return_exceptions=True)
