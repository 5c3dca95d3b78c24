"""Outbox commits sized by time and count: items start a window, acks alone wait for company.

A real SQLite file and the real commit loop; the recorder counts OutboxDb.commit calls.
"""

import asyncio

from agent.store.outbox import ROUTINE, Outbox


async def _until(predicate, what):
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{what}: not within 5 s")


async def _running(path, **kwargs):
    box = Outbox(path, max_mb=10, batch_window_s=0.005, **kwargs)
    await box.open()
    commits = []
    real = box.db.commit

    def recording(items, acked, now_ms):
        commits.append((len(items), sum(len(ids) for ids in acked.values())))
        return real(items, acked, now_ms)

    box.db.commit = recording
    return box, commits, asyncio.create_task(box.commit_loop())


async def _stop(box, loop_task):
    loop_task.cancel()
    await asyncio.gather(loop_task, return_exceptions=True)
    await box.close()


def test_an_ack_rides_along_with_the_next_items_commit(tmp_path):
    async def go():
        box, commits, task = await _running(tmp_path / "o.db", ack_window_s=3600)
        box.put("t", "L-1", ROUTINE, 1, {"n": 1})
        await _until(lambda: box.db.count == 1, "first reading committed")
        (row_id, _, _), = await box.fetch_after(0, 10)
        box.consumer("json").ack(row_id)
        box.put("t", "L-1", ROUTINE, 2, {"n": 2})
        await _until(lambda: len(commits) == 2, "second reading committed")
        left = await box.fetch_after(0, 10)
        await _stop(box, task)
        return commits, left
    commits, left = asyncio.run(go())
    assert commits == [(1, 0), (1, 1)]            # the ack went with the second reading
    assert [row[0] for row in left] == [2]


def test_acks_alone_commit_once_a_batch_of_them_waits(tmp_path):
    async def go():
        box, commits, task = await _running(tmp_path / "o.db", ack_window_s=3600, batch_max=3)
        for i in range(3):
            box.put("t", "L-1", ROUTINE, i, {"n": i})
        await _until(lambda: box.db.count == 3, "readings committed")
        for row_id, _, _ in await box.fetch_after(0, 10):
            box.consumer("json").ack(row_id)
        await _until(lambda: box.db.count == 0, "acked rows deleted")
        await _stop(box, task)
        return commits
    assert asyncio.run(go())[-1] == (0, 3)


def test_a_lone_ack_commits_after_the_ack_window(tmp_path):
    async def go():
        box, commits, task = await _running(tmp_path / "o.db", ack_window_s=0.05)
        box.put("t", "L-1", ROUTINE, 1, {"n": 1})
        await _until(lambda: box.db.count == 1, "reading committed")
        (row_id, _, _), = await box.fetch_after(0, 10)
        box.consumer("json").ack(row_id)
        await _until(lambda: box.db.count == 0, "acked row deleted")
        await _stop(box, task)
        return commits
    assert asyncio.run(go()) == [(1, 0), (0, 1)]


def test_an_ack_not_yet_committed_is_committed_at_close(tmp_path):
    async def go():
        box, _, task = await _running(tmp_path / "o.db", ack_window_s=3600)
        box.put("t", "L-1", ROUTINE, 1, {"n": 1})
        await _until(lambda: box.db.count == 1, "reading committed")
        (row_id, _, _), = await box.fetch_after(0, 10)
        box.consumer("json").ack(row_id)
        await _stop(box, task)
        box = Outbox(tmp_path / "o.db", max_mb=10)
        await box.open()
        left = await box.fetch_after(0, 10)
        await box.close()
        return left
    assert asyncio.run(go()) == []
