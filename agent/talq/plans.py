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
from agent.talq.errors import TalqError, bad
from agent.talq.overrides import level_of

MAX_ITEMS = 64


def refuse(key: str, description: str) -> TalqError:
    return TalqError(422, key, description)


def _id(body: dict, kind: str) -> str:
    for key in ("id", "ownerCMS"):
        if not isinstance(body.get(key), str) or not 0 < len(body[key]) <= 100:
            raise bad("payloadError", f"{kind}.{key}: a string of 1..100 characters")
    return body["id"]


def _astro(control, i: int) -> tuple:
    where = f"astroClockTimeControls[{i}]"
    if not isinstance(control, dict):
        raise bad("payloadError", f"{where}: an AstroClockTimeControl object")
    offset, event = control.get("offset"), control.get("solarEventType")
    if isinstance(offset, bool) or not isinstance(offset, int) or not -720 <= offset <= 720:
        raise bad("payloadError", f"{where}.offset: whole minutes -720..720")
    if event not in ("sunrise", "sunset"):
        raise bad("payloadError", f"{where}.solarEventType: sunrise or sunset")
    if control.get("operation") != "Set":
        raise refuse("payloadError", f"{where}.operation {str(control.get('operation'))[:20]!r}:"
                     " this gateway runs Set only")
    level = level_of((control.get("command") or {}).get("state")
                     if isinstance(control.get("command"), dict) else None)
    spec = event + (f"{offset:+d}min" if offset else "")
    return event, spec, level


def _fixed(control, i: int) -> dict:
    where = f"fixedTimeControls[{i}]"
    start = control.get("startTime") if isinstance(control, dict) else None
    if not isinstance(start, str) or len(start) != 8 or start[2] != ":" or start[5] != ":" \
            or not (start[:2] + start[3:5] + start[6:]).isdigit() or int(start[:2]) > 23 \
            or int(start[3:5]) > 59 or int(start[6:]) > 59:
        raise bad("payloadError", f"{where}.startTime: hh:mm:ss")
    if start[6:] != "00":
        raise refuse("payloadError", f"{where}.startTime {start}: this gateway switches on "
                     "whole minutes")
    level = level_of(control["command"].get("state") if isinstance(control.get("command"),
                                                                   dict) else None)
    if level == 0:
        raise refuse("payloadError", f"{where}: level 0 at a fixed time is not supported; the "
                     "lights go off at the sunrise control")
    return {"from": start[:5], "level": level}


def program_plan(body) -> dict:
    """A ControlProgramOne -> {"id", "schedule": {on, off}, "dimming": [steps], "body"}."""
    if not isinstance(body, dict):
        raise bad("payloadError", "a ControlProgram object")
    pid = _id(body, "ControlProgram")
    if body.get("type") != "ControlProgramOne":
        raise refuse("payloadError", f"program {pid}: type {str(body.get('type'))[:40]!r}; "
                     "this gateway runs ControlProgramOne")
    fixed, astro = body.get("fixedTimeControls"), body.get("astroClockTimeControls", [])
    if not isinstance(fixed, list) or not isinstance(astro, list) or \
            len(fixed) > MAX_ITEMS or len(astro) > MAX_ITEMS:
        raise bad("payloadError", f"program {pid}: fixedTimeControls and "
                  f"astroClockTimeControls are lists of at most {MAX_ITEMS}")
    if body.get("activePeriods") or body.get("dynamicControls"):
        raise refuse("payloadError", f"program {pid}: activePeriods and dynamicControls are "
                     "not supported (the program runs every night)")
    points = [_astro(c, i) for i, c in enumerate(astro)]
    on = [p for p in points if p[0] == "sunset" and p[2] > 0]
    off = [p for p in points if p[0] == "sunrise" and p[2] == 0]
    if len(on) != 1 or len(off) != 1 or len(points) != 2:
        raise refuse("payloadError", f"program {pid}: this gateway runs one sunset control "
                     "with a level > 0 (on) and one sunrise control with level 0 (off)")
    steps = [_fixed(c, i) for i, c in enumerate(fixed)]
    if [s["from"] for s in steps] != sorted({s["from"] for s in steps}, key=_night_order):
        raise bad("payloadError", f"program {pid}: fixedTimeControls in increasing order "
                  "through the night, no two at the same time")
    return {"id": pid, "schedule": {"on": on[0][1], "off": off[0][1]},
            "dimming": [{"from": on[0][1], "level": on[0][2]}] + steps, "body": body}


def _night_order(hhmm: str) -> int:
    minutes = int(hhmm[:2]) * 60 + int(hhmm[3:])
    return minutes + 1440 if minutes < 720 else minutes      # after midnight comes later


def calendar_plan(body, programs: dict) -> dict:
    """A Calendar -> {"default": program id, "rules": [Lentera rules naming their "program"]},
    checked whole (agent/talq/calendar_rules.py)."""
    if not isinstance(body, dict):
        raise bad("payloadError", "a Calendar object")
    cid = _id(body, "Calendar")
    program = body.get("defaultProgram")
    if program not in programs:
        raise refuse("relatedResourceNotFound", f"calendar {cid}: defaultProgram "
                     f"{str(program)[:60]!r} is not a control program of this gateway (it runs "
                     "on the days no rule is in force)")
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
    if not isinstance(body, dict) or not isinstance(body.get("addresses"), list) or \
            not 0 < len(body["addresses"]) <= MAX_ITEMS:
        raise bad("payloadError", "an AssignCommand: addresses (1..64) and entity")
    entity = body.get("entity")
    if not isinstance(entity, dict) or entity.get("resource") != "calendars":
        raise refuse("assignmentEntityNotValid", "AssignCommand.entity: this gateway assigns "
                     "calendars ({resource: calendars, address: ID}) and unassigns them "
                     "({resource: calendars, address: \"\"}); GET /calendars lists them")
    unassigning = entity.get("address") in (None, "")     # the OAS: resource, not address
    if not unassigning and entity.get("address") not in store.calendars:
        raise refuse("relatedResourceNotFound", f"AssignCommand.entity.address: no calendar "
                     f"{str(entity.get('address'))[:60]!r} on this gateway; create it with "
                     "POST /calendars first (GET /calendars lists them)")
    groups = []
    for ref in body["addresses"]:
        address = ref.get("address") if isinstance(ref, dict) else None
        if not isinstance(ref, dict) or ref.get("resource") != "groups" or \
                not isinstance(address, str) or address.lower() not in catalog.groups:
            raise refuse("assignmentAddressNotValid", f"{str(ref)[:80]}: calendars are "
                         "assigned to lighting groups (GET /groups), not to single devices")
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
        raise refuse("assignmentEntityNotValid", f"the plan cannot run: {exc}") from None
