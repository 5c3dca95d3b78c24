"""The TALQ state files (logger configs, programs and calendars) are loaded like every other
state file: a torn or garbled one is moved aside, the city is told, the gateway starts."""

import pytest

from agent.talq.loggers import LoggerStore
from agent.talq.plans import PlanStore

TORN = [b"", b"[{\"address\": \"faults\", \"own", b"\xff\xfe not utf-8", b"{\"programs\": 3}",
        b"[{\"address\": \"faults\"}]", b"null"]


def _told():
    calls = []
    return calls, lambda path, aside, exc: calls.append((path, aside, exc))


@pytest.mark.parametrize("content", TORN)
def test_a_torn_logger_file_is_moved_aside_and_the_gateway_starts_without_loggers(
        tmp_path, content):
    path = tmp_path / "talq-loggers.json"
    path.write_bytes(content)
    calls, on_corrupt = _told()
    store = LoggerStore(path)
    store.load(catalog=None, on_corrupt=on_corrupt)
    assert store.loggers == {}
    assert not path.exists() and len(calls) == 1
    assert calls[0][1].read_bytes() == content          # kept aside, for a person to read


@pytest.mark.parametrize("content", TORN)
def test_a_torn_plans_file_is_moved_aside_and_the_gateway_starts_without_plans(tmp_path,
                                                                              content):
    path = tmp_path / "talq-plans.json"
    path.write_bytes(content)
    calls, on_corrupt = _told()
    store = PlanStore(path)
    store.load(on_corrupt)
    assert store.programs == {} and store.calendars == {}
    assert not path.exists() and len(calls) == 1
    assert calls[0][1].read_bytes() == content


def test_no_file_is_a_fresh_gateway_not_a_corrupt_one(tmp_path):
    calls, on_corrupt = _told()
    loggers, plans = LoggerStore(tmp_path / "a.json"), PlanStore(tmp_path / "b.json")
    loggers.load(catalog=None, on_corrupt=on_corrupt)
    plans.load(on_corrupt)
    assert (loggers.loggers, plans.programs, plans.calendars, calls) == ({}, {}, {}, [])


SAMPLED = {"config": {"address": "energy", "ownerCMS": "cms"}}


@pytest.mark.parametrize("content", TORN + [b'{"loggers": {"energy": 3}}'])
def test_a_torn_sampler_file_is_moved_aside_and_the_sampler_starts_fresh(tmp_path, content):
    from agent.talq import sampler_state
    path = tmp_path / "talq-sampler.json"
    path.write_bytes(content)
    calls, on_corrupt = _told()
    assert sampler_state.load(path, {"energy": SAMPLED}, on_corrupt) == ({}, {})
    assert not path.exists() and len(calls) == 1


def test_the_sampler_file_keeps_only_an_unchanged_logger(tmp_path):
    from agent.talq import sampler_state
    path = tmp_path / "talq-sampler.json"
    path.write_bytes(sampler_state.dump({"energy": SAMPLED}, {("energy", 0): (SAMPLED, 10.0)},
                                        {("energy", "dev", "lampMonitor", "power"): 42.5}))
    taken, last = sampler_state.load(path, {"energy": SAMPLED}, None)
    assert taken == {("energy", 0): (SAMPLED, 10.0)}
    assert last == {("energy", "dev", "lampMonitor", "power"): 42.5}
    replaced = {"config": {**SAMPLED["config"], "ownerCMS": "other"}}
    assert sampler_state.load(path, {"energy": replaced}, None) == ({}, {})
