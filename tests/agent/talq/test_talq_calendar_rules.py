"""TALQ calendar rules (agent/talq/calendar_rules.py) decoded into a Lentera calendar, and what
the gateway cannot run refused whole with the spec's error, before anything is stored."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.talq.calendar_rules import decode_rules
from agent.talq.errors import TalqError
from agent.talq.plans import assigned_lighting, calendar_plan, program_plan
from edge_rules.civil import days_from_civil
from edge_rules.controller import LightingController
from edge_rules.tz import FixedOffset
from tests.agent.talq.oas import validate
from tests.agent.talq.test_talq_plans import program

CMS = "00000000-0000-0000-0000-0000001c0ffe"
PROGRAMS = {p: program_plan(program(p)) for p in ("night", "weekend", "festival")}


def rule(program_id: str = "weekend", **fields) -> dict:
    return {"program": program_id, **fields}


def calendar(*rules, default: str = "night") -> dict:
    return {"id": "city", "ownerCMS": CMS, "defaultProgram": default, "rules": list(rules)}


def test_rules_become_lentera_rules_in_their_order():
    rules = [
        rule("festival", startDate="2026-12-24", endDate="2026-12-26"),
        rule(condition={"type": "ccDay", "days": [{"start": 6, "end": 7}, {"start": 3}]}),
        rule(condition={"type": "ccDate", "dates": [{"start": "--10-16"},
                                                    {"start": "---01", "end": "---03"}]},
             startDate="2026-01-01"),
        rule(startDate="--06-01", endDate="--08-31",
             condition={"type": "ccDay", "days": [{"start": 1}], "occurrences": []}),
        rule(startDate="--01-01", endDate="--12-31")]           # the OAS defaults: all year
    validate(calendar(*rules), "Calendar")                  # every one is a Calendar by the OAS
    assert decode_rules(rules, PROGRAMS) == [
        {"name": "1", "from": "2026-12-24", "to": "2026-12-26", "program": "festival"},
        {"name": "2", "program": "weekend", "weekdays": ["wed", "sat", "sun"]},
        {"name": "3", "from": "2026-01-01", "program": "weekend",
         "dates": ["--10-16", "---01..---03"]},
        {"name": "4", "dates": ["--06-01..--08-31"], "program": "weekend", "weekdays": ["mon"]},
        {"name": "5", "program": "weekend"}]


def test_yearly_bounds_over_the_new_year_run_as_one_yearly_range():
    """Until this change, startDate --12-20 with endDate --01-06 was a 422
    serviceConstraintExceeded; now it runs from 20 December to 6 January, every year."""
    rules = [rule("festival", startDate="--12-20", endDate="--01-06")]
    validate(calendar(*rules), "Calendar")
    assert decode_rules(rules, PROGRAMS) == [
        {"name": "1", "dates": ["--12-20..--01-06"], "program": "festival"}]
    base = {"groups": {"road": {"devices": ["L-001"], "schedule": "evening"}},
            "schedules": {"evening": {"on": "sunset", "off": "sunrise"}}}
    programs = {}
    for pid, level in (("night", 90), ("festival", 30)):
        body = program(pid)
        body["astroClockTimeControls"][0]["command"]["state"]["value"] = level
        body["fixedTimeControls"] = []
        programs[pid] = program_plan(body)
    lighting = assigned_lighting(base, ["road"], calendar(*rules), programs)
    controller = LightingController(lighting, FixedOffset(7 * 3600, "WIB"), -6.178, 106.632)
    at_22 = lambda y, m, d: days_from_civil(y, m, d) * 86400 + 15 * 3600   # 22:00 WIB
    for (y, m, d), level in (((2026, 12, 19), 90), ((2026, 12, 20), 30), ((2026, 12, 31), 30),
                             ((2027, 1, 1), 30), ((2027, 1, 6), 30), ((2027, 1, 7), 90),
                             ((2027, 12, 25), 30)):
        assert controller.plans["road"].decide(controller.sky, at_22(y, m, d), {})[:2] == \
            (True, level), (y, m, d)


@pytest.mark.parametrize("rules, status, key, fragment", [
    ([rule(condition={"type": "ccDay", "days": [{"start": 1}], "occurrences": ["2"]})],
     422, "serviceConstraintExceeded", "occurrences"),
    ([rule(condition={"type": "ccDate", "dates": [{"start": "--12-20", "end": "--01-06"}]})],
     422, "payloadError", "higher"),         # ccDate: "The end day must be higher" (the OAS)
    ([rule(startDate="2026-06-01", endDate="--08-31")], 422, "serviceConstraintExceeded",
     "together"),
    ([rule(startDate="--06-01", condition={"type": "ccDate", "dates": [{"start": "---01"}]})],
     422, "serviceConstraintExceeded", "ccDate"),
    ([rule()] * 65, 422, "serviceConstraintExceeded", "at most 64"),
    ([rule("nope")], 422, "relatedResourceNotFound", "nope"),
    ([rule(startDate="2026-06-02", endDate="2026-06-01")], 422, "payloadError", "before"),
    ([rule(startDate="2026-02-30")], 422, "payloadError", "no such date"),
    ([rule(condition={"type": "ccDate", "dates": [{"start": "--02-30"}]})], 422, "payloadError",
     "no such day"),
    ([rule(condition={"type": "ccDay", "days": [{"start": 5, "end": 2}]})], 422, "payloadError",
     "higher"),
    ([rule(condition={"type": "ccDate", "dates": [{"start": "---05", "end": "--06-01"}]})], 422,
     "payloadError", "one format"),
    ([rule(condition={"type": "ccDay", "days": []})], 422, "payloadError", "never"),
    ([rule(condition={"type": "ccDay", "days": [{"start": 8}]})], 400, "payloadError", "1..7"),
    ([rule(condition={"type": "ccWeek"})], 400, "payloadError", "ccDay or ccDate"),
    ([rule(startDate="18.07.2026")], 400, "payloadError", "yyyy-mm-dd"),
    # a trailing newline matched `$`: the calendar was stored, and refused only at the push
    ([rule(condition={"type": "ccDate", "dates": [{"start": "--12-24\n"}]})], 400,
     "payloadError", "---dd or --mm-dd"),
    ([{"startDate": "2026-07-18"}], 400, "payloadError", "program"),
    ("daily", 400, "payloadError", "list"),
])
def test_what_the_gateway_cannot_run_is_refused_with_the_spec_error(rules, status, key,
                                                                     fragment):
    with pytest.raises(TalqError) as refused:
        calendar_plan({**calendar(), "rules": rules}, PROGRAMS)
    error = refused.value
    assert (error.status, error.key) == (status, key), error.description
    assert fragment in error.description and "calendar city" in error.description
    validate({"key": error.key, "description": error.description}, "TALQErrorMessage")


def test_the_assigned_section_runs_the_rule_in_force_each_night():
    base = {"groups": {"road": {"devices": ["L-001"], "schedule": "evening"}},
            "schedules": {"evening": {"on": "sunset", "off": "sunrise"}}}
    levels = {"night": 90, "weekend": 50, "festival": 30}
    programs = {}
    for pid, level in levels.items():
        body = program(pid)
        body["astroClockTimeControls"][0]["command"]["state"]["value"] = level
        body["fixedTimeControls"] = []
        programs[pid] = program_plan(body)
    body = calendar(rule("festival", startDate="2026-12-24", endDate="2026-12-26"),
                    rule("weekend", condition={"type": "ccDay", "days": [{"start": 6, "end": 7}]}))
    lighting = assigned_lighting(base, ["road"], body, programs)
    controller = LightingController(lighting, FixedOffset(7 * 3600, "WIB"), -6.178, 106.632)
    plan = controller.plans["road"]
    at_22 = lambda y, m, d: days_from_civil(y, m, d) * 86400 + 15 * 3600   # 22:00 WIB
    for (y, m, d), level in (((2026, 12, 18), 90), ((2026, 12, 19), 50), ((2026, 12, 24), 30),
                             ((2026, 12, 26), 30), ((2026, 12, 27), 50), ((2026, 12, 28), 90)):
        assert plan.decide(controller.sky, at_22(y, m, d), {})[:2] == (True, level), (y, m, d)
    # assigned again with one rule fewer: no entry of the earlier push is left behind
    again = assigned_lighting(lighting, ["road"], calendar(rule("weekend")), programs)
    talq = [k for k in again["schedules"] if k.startswith("talq-")]
    assert len(talq) == 2 and set(again["dimming"]) == set(talq), again["schedules"]


DAYS = st.sampled_from(["2026-12-24", "2026-02-29", "2028-02-29", "--01-01", "--12-31",
                        "--02-29", "--02-30", "--13-01", "---05", "---31", "--12-24\n", "---05\n",
                        "2026-12-24\n", "", None, 7, []])
CONDITION = st.one_of(
    st.none(), st.integers(),
    st.fixed_dictionaries({"type": st.sampled_from(["ccDay", "ccDate", "x", None])}, optional={
        "days": st.lists(st.dictionaries(st.sampled_from(["start", "end"]),
                                         st.sampled_from([0, 1, 3, 7, 8, True, "1"])),
                         max_size=8) | st.integers(),
        "dates": st.lists(st.dictionaries(st.sampled_from(["start", "end"]), DAYS), max_size=3),
        "occurrences": st.lists(st.sampled_from(["1", "L", "9"]), max_size=2) | st.none()}))
RULE = st.fixed_dictionaries({}, optional={
    "startDate": DAYS, "endDate": DAYS, "condition": CONDITION,
    "program": st.sampled_from(["night", "weekend", "nope", 3])})


@settings(max_examples=400, deadline=None)
@example(rules=[{"endDate": "--01-01", "program": "night"}])
@given(rules=st.lists(RULE, max_size=4) | st.none() | st.integers())
def test_a_calendar_is_refused_with_a_talq_error_or_runs_in_edge_rules(rules):
    """Whatever the decoder takes, the Lentera calendar runs (no RuleConfigError at the push);
    whatever it does not take is a 400 or 422 TalqError, nothing else. The example was its
    first find: a one-day yearly range became "--01-01..--01-01", which edge_rules refused
    (a RuleConfigError at the push; seen failing before the fix in _bounds)."""
    base = {"groups": {"road": {"devices": ["L-001"], "schedule": "evening"}},
            "schedules": {"evening": {"on": "sunset", "off": "sunrise"}}}
    body = {**calendar(), "rules": rules}
    try:
        lighting = assigned_lighting(base, ["road"], body, PROGRAMS)
    except TalqError as error:
        assert error.status in (400, 422) and error.key and error.description
        return
    controller = LightingController(lighting, FixedOffset(7 * 3600, "WIB"), -6.178, 106.632)
    for day in range(days_from_civil(2026, 12, 20), days_from_civil(2027, 1, 3)):
        controller.plans["road"].decide(controller.sky, day * 86400 + 15 * 3600, {})
