"""A holds.json of the wrong shape is moved aside; the agent starts (the lights follow their
plan) instead of failing in LightingService on a KeyError (before: 'saved_at', 'expires_s').
The city is told of a file moved aside, and status of a save that fails."""

import asyncio
import errno
import json
import os
import subprocess

import pytest

from tests.support.tmpfs import small_tmpfs

from agent.services.holds import HoldFile
from agent.services.lighting import LightingService
from edge_rules.controller import LightingController
from edge_rules.tz import FixedOffset
from tests.agent.services.test_lighting_service import ROAD, Clock, Device, Scheduler

WRONG = [b'{"x": 1}', b'{"saved_at": 5, "entries": [{"source": "command"}]}', b'[1, 2]',
         b'{"saved_at": "soon", "entries": []}', b'{"saved_at": 5, "entries": 3}', b'{"sav']


@pytest.mark.parametrize("content", WRONG)
def test_a_holds_file_of_the_wrong_shape_is_moved_aside_not_fatal(tmp_path, content):
    path = tmp_path / "holds.json"
    path.write_bytes(content)
    assert HoldFile(path).rearm(None, 1e9) == 0
    assert not path.exists()
    aside = list(tmp_path.glob("holds.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content


def test_a_holds_file_that_cannot_be_read_is_told_to_the_city(tmp_path):
    """Before: LightingService gave HoldFile no path to Agent.state_file_corrupt, so a torn
    holds.json was moved aside with a log line only (no state_file_corrupt event)."""
    path = tmp_path / "holds.json"
    path.write_bytes(b'{"saved_at": 17')
    told = []
    svc, _ = _service(path, on_corrupt=lambda *a: told.append(a))
    assert svc.holds is not None and len(told) == 1
    where, aside, exc = told[0]
    assert str(where) == str(path) and aside.name.startswith("holds.json.corrupt-")
    assert isinstance(exc, ValueError)


@pytest.fixture
def tiny_fs(tmp_path):
    """A 64 KiB tmpfs (root only; otherwise skipped with the reason)."""
    yield from small_tmpfs(tmp_path, "64k")


def _fill(folder):
    """Write until the file system is full (ENOSPC); the filler's path."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def test_a_holds_save_that_fails_on_a_full_disk_shows_in_status_until_one_succeeds(tiny_fs):
    """Before: the failed save was only logged; status said nothing while a restart would
    have handed the held light back to the schedule."""
    svc, _ = _service(tiny_fs / "holds.json")
    filler = _fill(tiny_fs)

    async def hold_and_save():
        await svc.override(device="L-001", switch=False, for_s=3600, user="budi")
        await svc.holds._writer.run(lambda: None)       # the queued save has run
    asyncio.run(hold_and_save())
    error = svc.status().get("holds_error")
    assert error and "holds.json" in error and "free space" in error, svc.status()
    assert not (tiny_fs / "holds.json").exists()
    filler.unlink()

    async def step_and_save():
        await svc.step()                                 # retried, though nothing changed
        await svc.holds._writer.run(lambda: None)
    asyncio.run(step_and_save())
    assert "holds_error" not in svc.status(), svc.status()
    saved = json.loads((tiny_fs / "holds.json").read_text())
    assert [e["lights"] for e in saved["entries"]] == [["L-001"]]


def _service(path, on_corrupt=None):
    ctl = LightingController(ROAD, FixedOffset(7 * 3600, "WIB"), -6.178, 106.632)
    devices = {d: Device() for d in ("L-001", "L-002")}
    svc = LightingService(ctl, Clock(), devices, {d: Scheduler() for d in devices},
                          lambda *a, **k: None, holds_file=str(path), on_corrupt=on_corrupt)
    return svc, devices


def test_lentera_status_says_when_the_holds_are_not_saved():
    from agent.cli.console import status_lines
    snapshot = {"gateway": "gw", "site": "s", "version": "1", "uptime_s": 5,
                "lighting": {"sources": {"maintenance": 1}, "holds_error": "cannot save x"}}
    assert "holds   NOT SAVED: cannot save x" in status_lines(snapshot)
    del snapshot["lighting"]["holds_error"]
    assert not [line for line in status_lines(snapshot) if line.startswith("holds")]
