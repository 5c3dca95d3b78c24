"""State files: atomic replace, one temporary file per write, the off-loop writer."""

import asyncio
import threading

import pytest

from agent.store.statefile import load_or_quarantine, write_atomic, write_atomic_off_loop


def test_concurrent_saves_of_one_file_each_land_whole(tmp_path):
    # the hourly save still running when the shutdown's save starts: with one shared
    # temporary name they wrote into each other's file (torn content or ENOENT on rename)
    path = tmp_path / "anomaly.npz"
    payloads = [bytes([n]) * 4_000_000 for n in range(1, 5)]
    errors = []

    def save(data):
        try:
            for _ in range(3):
                write_atomic(path, data)
        except OSError as exc:
            errors.append(exc)
    threads = [threading.Thread(target=save, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert path.read_bytes() in payloads              # one whole save, not a mix
    assert [p.name for p in tmp_path.iterdir()] == ["anomaly.npz"]


def test_off_loop_write_lands_and_reports_its_error(tmp_path):
    async def main():
        await write_atomic_off_loop(tmp_path / "schedule.json", b"{}")
        with pytest.raises(OSError):
            await write_atomic_off_loop(tmp_path / "no-such-dir" / "x.json", b"{}")
    asyncio.run(main())
    assert (tmp_path / "schedule.json").read_bytes() == b"{}"


def test_a_file_that_does_not_load_is_moved_aside(tmp_path):
    path = tmp_path / "state.json"
    path.write_bytes(b"\x00garbage")
    told = []
    assert load_or_quarantine(path, lambda p: 1 / 0, lambda *a: told.append(a)) is None
    assert not path.exists() and told and told[0][1].name.startswith("state.json.corrupt-")
