"""Control programs, calendars and their assignment to groups (spec §5.8; ControlProgramOne,
Calendar and AssignCommand in the data-model OAS) as Lentera lighting plans.

A program the gateway runs switches on at sunset (signed minute offset) with a level, off at
sunrise (offset), and may change the level at fixed times in between: it becomes a schedule
(`on`/`off`) and a dimming profile. Assigning a calendar to groups builds a new lighting
section, the groups on a Lentera calendar whose default and rules (agent/talq/calendar_rules.py)
each name a program's schedule and dimming, and pushes it exactly like a schedule pushed over
MQTT (validated, stored atomically, kept across restarts). Anything else is refused with 422
and nothing is stored or run.
"""

import copy
import hashlib
import json

from agent.errors import Refused
from agent.store.statefile import load_or_quarantine, write_atomic_off_loop
from agent.talq.calendar_rules import decode_rules
from agent.talq.errors import TalqError, bad, got
from agent.talq.overrides import level_of

MAX_ITEMS = 64


# Every refusal names the field, what it got, and what to send instead (the house rule for
# operator-facing errors; TALQ 2.7.1 §3.5 leaves the texts to the OAS, whose TALQErrorMessage
# has only `key` and a free `description`): "ControlProgram.ownerCMS is missing: add it".


def refuse(key: str, description: str) -> TalqError:
    return TalqError(422, key, description)


def _id(body: dict, kind: str) -> str:
    for key, what in (("id", f"the {kind[0].lower() + kind[1:]}'s own name"),
                      ("ownerCMS", "the CMS's address")):
        value = body.get(key)
        if not isinstance(value, str) or not 0 < len(value) <= 100:
            fix = "add it," if value is None else "send"
            raise bad("payloadError", f"{kind}.{key} is {got(value)}: {fix} {what}, a string "
                      "of 1..100 characters")
    return body["id"]


def _astro(control, where: str) -> tuple:
    if not isinstance(control, dict):
        raise bad("payloadError", f"{where} is {got(control)}: send an AstroClockTimeControl "
                  "{offset, solarEventType, operation: Set, command}")
    offset, event = control.get("offset"), control.get("solarEventType")
    if isinstance(offset, bool) or not isinstance(offset, int) or not -720 <= offset <= 720:
        raise bad("payloadError", f"{where}.offset is {got(offset)}: send whole minutes "
                  "-720..720 from the sun event (negative: before it)")
    if event not in ("sunrise", "sunset"):
        raise bad("payloadError", f"{where}.solarEventType is {got(event)}: send sunset (the "
                  "switch-on) or sunrise (the switch-off)")
    if control.get("operation") != "Set":
        raise refuse("payloadError", f"{where}.operation is {got(control.get('operation'))}: "
                     "send Set, the only operation this gateway runs")
    level = level_of((control.get("command") or {}).get("state")
                     if isinstance(control.get("command"), dict) else None,
                     f"{where}.command.state", "payloadError")
    spec = event + (f"{offset:+d}min" if offset else "")
    return event, spec, level


def _fixed(control, where: str) -> dict:
    start = control.get("startTime") if isinstance(control, dict) else None
    if not isinstance(start, str) or len(start) != 8 or start[2] != ":" or start[5] != ":" \
            or not (start[:2] + start[3:5] + start[6:]).isdigit() or int(start[:2]) > 23 \
            or int(start[3:5]) > 59 or int(start[6:]) > 59:
        raise bad("payloadError", f"{where}.startTime is {got(start)}: send the local time "
                  "as hh:mm:ss, 00:00:00..23:59:59")
    if start[6:] != "00":
        raise refuse("payloadError", f"{where}.startTime is {start}: send whole minutes "
                     f"({start[:6]}00): this gateway switches on whole minutes")
    level = level_of(control["command"].get("state") if isinstance(control.get("command"),
                                                                   dict) else None,
                     f"{where}.command.state", "payloadError")
    if level == 0:
        raise refuse("payloadError", f"{where}.command.state.value is 0: send a level 1..100; "
                     "the lights go off at the program's sunrise control "
                     "(astroClockTimeControls), not at a fixed time")
    return {"from": start[:5], "level": level}


def _lists(body: dict, where: str) -> tuple:
    out = []
    for key, default in (("fixedTimeControls", None), ("astroClockTimeControls", [])):
        value = body.get(key, default)
        if not isinstance(value, list) or len(value) > MAX_ITEMS:
            fix = "add it," if value is None else "send"
            raise bad("payloadError", f"{where}.{key} is {got(value)}: {fix} a list of at "
                      f"most {MAX_ITEMS} (it may be [])")
        out.append(value)
    return tuple(out)


def program_plan(body) -> dict:
    """A ControlProgramOne -> {"id", "schedule": {on, off}, "dimming": [steps], "body"}."""
    if not isinstance(body, dict):
        raise bad("payloadError", f"a control program is {got(body)}: send a ControlProgramOne "
                  "object {type, id, ownerCMS, fixedTimeControls, astroClockTimeControls}")
    pid = _id(body, "ControlProgram")
    where = f"program {pid}: ControlProgram"
    if body.get("type") != "ControlProgramOne":
        raise refuse("payloadError", f"{where}.type is {got(body.get('type'))}: send "
                     "ControlProgramOne, the only program type this gateway runs")
    fixed, astro = _lists(body, where)
    for key in ("activePeriods", "dynamicControls"):
        if body.get(key):
            raise refuse("payloadError", f"{where}.{key} is {got(body[key])}: send [] or leave "
                         "it out; this gateway runs no active periods nor dynamic controls "
                         "(the program runs every night)")
    points = [_astro(c, f"{where}.astroClockTimeControls[{i}]") for i, c in enumerate(astro)]
    on = [p for p in points if p[0] == "sunset" and p[2] > 0]
    off = [p for p in points if p[0] == "sunrise" and p[2] == 0]
    if len(on) != 1 or len(off) != 1 or len(points) != 2:
        raise refuse("payloadError", f"{where}.astroClockTimeControls has {len(points)} "
                     f"control(s), {len(on)} sunset with a level > 0 and {len(off)} sunrise "
                     "with level 0: send exactly two, a sunset control with a level 1..100 "
                     "(on) and a sunrise control with level 0 (off)")
    steps = [_fixed(c, f"{where}.fixedTimeControls[{i}]") for i, c in enumerate(fixed)]
    if [s["from"] for s in steps] != sorted({s["from"] for s in steps}, key=_night_order):
        raise bad("payloadError", f"{where}.fixedTimeControls start at "
                  f"{', '.join(s['from'] for s in steps)[:80]}: send them in increasing order "
                  "through the night (evening, then after midnight), no two at the same time")
    return {"id": pid, "schedule": {"on": on[0][1], "off": off[0][1]},
            "dimming": [{"from": on[0][1], "level": on[0][2]}] + steps, "body": body}


def _night_order(hhmm: str) -> int:
    minutes = int(hhmm[:2]) * 60 + int(hhmm[3:])
    return minutes + 1440 if minutes < 720 else minutes      # after midnight comes later


def calendar_plan(body, programs: dict) -> dict:
    """A Calendar -> {"default": program id, "rules": [Lentera rules naming their "program"]},
    checked whole (agent/talq/calendar_rules.py)."""
    if not isinstance(body, dict):
        raise bad("payloadError", f"a calendar is {got(body)}: send a Calendar object "
                  "{id, ownerCMS, defaultProgram, rules}")
    cid = _id(body, "Calendar")
    program = body.get("defaultProgram")
    if program is None:
        raise bad("payloadError", f"calendar {cid}: Calendar.defaultProgram is missing: add "
                  "it, the id of the control program run on the days no rule is in force "
                  "(GET /control-programs lists them)")
    if program not in programs:
        raise refuse("relatedResourceNotFound", f"calendar {cid}: Calendar.defaultProgram "
                     f"{got(program)} is not a control program of this gateway: send the id of "
                     "one (GET /control-programs lists them; POST /control-programs creates "
                     "it first)")
    try:
        return {"default": program, "rules": decode_rules(body.get("rules"), programs)}
    except TalqError as error:
        raise TalqError(error.status, error.key, f"calendar {cid}: {error.description}") from None


def plan_name(calendar_id: str) -> str:
    return "talq-" + hashlib.sha256(calendar_id.encode()).hexdigest()[:12]


def assigned_lighting(base: dict, groups: list, calendar: dict, programs: dict) -> dict:
    """gateway.yaml's (or the last pushed) lighting section with `groups` on the calendar: a
    Lentera calendar whose default and rules each name a program's schedule and dimming."""
    lighting = copy.deepcopy(base)
    name = plan_name(calendar["id"])
    plan = calendar_plan(calendar, programs)
    schedules, dimming = lighting.setdefault("schedules", {}), lighting.setdefault("dimming", {})
    for table in (schedules, dimming):          # this calendar's entries of an earlier push
        for key in [k for k in table if k.startswith(name + "-")]:
            del table[key]
    entries: dict[str, str] = {}
    for pid in [plan["default"]] + [r["program"] for r in plan["rules"]]:
        if pid not in entries:
            entries[pid] = f"{name}-{len(entries)}"
            schedules[entries[pid]] = dict(programs[pid]["schedule"])
            dimming[entries[pid]] = [dict(s) for s in programs[pid]["dimming"]]
    rules = [{**{k: v for k, v in r.items() if k != "program"},
              "schedule": entries[r["program"]], "dimming": entries[r["program"]]}
             for r in plan["rules"]]
    lighting.setdefault("calendars", {})[name] = {
        "default": entries[plan["default"]], "default_dimming": entries[plan["default"]],
        **({"rules": rules} if rules else {})}
    for group in groups:
        body = lighting["groups"][group]
        body.pop("schedule", None)
        body.pop("dimming", None)
        body["calendar"] = name
    return lighting


def unassigned_lighting(base: dict, own: dict, groups: list) -> dict:
    """The running section with `groups` back on gateway.yaml's own plan (`own`, its lighting
    section): the group's body as gateway.yaml has it, and the schedule, dimming profile and
    calendar it names copied in where the running section lacks them. AssignCommand in the
    data-model OAS: "Any entity associated with the address(es) can be de-associated by
    setting the 'entity.resource' but not the 'entity.address'"."""
    lighting = copy.deepcopy(base)
    for group in groups:
        body = copy.deepcopy(own["groups"][group])
        lighting["groups"][group] = body
        for key, table in (("schedule", "schedules"), ("dimming", "dimming"),
                           ("calendar", "calendars")):
            name = body.get(key) if isinstance(body, dict) else None
            if name is not None and name not in lighting.get(table, {}):
                lighting.setdefault(table, {})[name] = copy.deepcopy(own[table][name])
        calendar = own.get("calendars", {}).get(body.get("calendar"), {})
        for rule in [calendar] + list(calendar.get("rules", ())):
            for key, table in (("default", "schedules"), ("default_dimming", "dimming"),
                               ("schedule", "schedules"), ("dimming", "dimming")):
                name = rule.get(key)
                if isinstance(name, str) and name not in lighting.get(table, {}):
                    lighting.setdefault(table, {})[name] = copy.deepcopy(own[table][name])
    return lighting


def programs_of(calendar: dict) -> set:
    """The ids of the programs a stored Calendar body runs (default and rules)."""
    rules = calendar.get("rules") or []
    return {calendar.get("defaultProgram")} | {r.get("program") for r in rules
                                               if isinstance(r, dict)}


class PlanStore:
    """Programs and calendars by id, saved atomically (`talq-plans.json`) on every change."""

    def __init__(self, path):
        self.path = path
        self.programs: dict[str, dict] = {}
        self.calendars: dict[str, dict] = {}

    def load(self, on_corrupt) -> None:
        """Read the file; a corrupt one is moved aside and on_corrupt(path, aside, exc) told
        (statefile.load_or_quarantine): the lights keep the plan they run."""
        def read(path):
            saved = json.loads(path.read_bytes().decode("utf-8"))
            programs = {p["id"]: program_plan(p) for p in saved["programs"]}
            return programs, {c["id"]: c for c in saved["calendars"]
                              if calendar_plan(c, programs)}
        self.programs, self.calendars = load_or_quarantine(self.path, read, on_corrupt) \
            or ({}, {})

    async def save(self, programs: dict, calendars: dict) -> None:
        data = json.dumps({"programs": [p["body"] for p in programs.values()],
                           "calendars": list(calendars.values())}).encode()
        try:
            await write_atomic_off_loop(self.path, data)
        except OSError as exc:
            raise TalqError(500, "genericError", f"cannot save {self.path}: {exc}; check "
                            "the disk") from None
        self.programs, self.calendars = programs, calendars


async def assign(site, catalog, store: PlanStore, body) -> None:
    """An AssignCommand of a calendar to lighting groups, run as a pushed schedule."""
    if not isinstance(body, dict):
        raise bad("payloadError", f"the body is {got(body)}: send an AssignCommand object "
                  "{addresses, entity}")
    addresses = body.get("addresses")
    if not isinstance(addresses, list) or not 0 < len(addresses) <= MAX_ITEMS:
        fix = "add it," if addresses is None else "send"
        raise bad("payloadError", f"AssignCommand.addresses is {got(addresses)}: {fix} a list "
                  f"of 1..{MAX_ITEMS} lighting groups, {{resource: groups, address: ...}} "
                  "(GET /groups lists them)")
    entity = body.get("entity")
    if not isinstance(entity, dict) or entity.get("resource") != "calendars":
        raise refuse("assignmentEntityNotValid", f"AssignCommand.entity is {got(entity)}: "
                     "send {resource: calendars, address: ID} to assign a calendar (GET "
                     "/calendars lists them), or {resource: calendars, address: \"\"} to "
                     "unassign; this gateway assigns calendars only")
    unassigning = entity.get("address") in (None, "")     # the OAS: resource, not address
    if not unassigning and entity.get("address") not in store.calendars:
        raise refuse("relatedResourceNotFound", f"AssignCommand.entity.address: no calendar "
                     f"{str(entity.get('address'))[:60]!r} on this gateway; create it with "
                     "POST /calendars first (GET /calendars lists them)")
    groups = []
    for i, ref in enumerate(addresses):
        address = ref.get("address") if isinstance(ref, dict) else None
        if not isinstance(ref, dict) or ref.get("resource") != "groups" or \
                not isinstance(address, str) or address.lower() not in catalog.groups:
            raise refuse("assignmentAddressNotValid", f"AssignCommand.addresses[{i}] is "
                         f"{got(ref)}: send {{resource: groups, address: ...}} with the address "
                         "of a lighting group (GET /groups lists them); calendars go to groups, "
                         "not to single devices")
        groups.append(catalog.groups[address.lower()])
    if unassigning:
        lighting = unassigned_lighting(site.schedule.current(), site.schedule.config.lighting,
                                       groups)
    else:
        lighting = assigned_lighting(site.schedule.current(), groups,
                                     store.calendars[entity["address"]], store.programs)
    try:
        await site.schedule.push(lighting, site.lighting)
    except Refused as exc:
        raise refuse("assignmentEntityNotValid", f"calendar {entity.get('address') or '(none)'}"
                     f" on these groups cannot run: {exc}; correct the calendar or its programs "
                     "(PUT /calendars, PUT /control-programs) and send the AssignCommand "
                     "again") from None
