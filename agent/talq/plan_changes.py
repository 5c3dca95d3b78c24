"""Replacing and deleting control programs and calendars (spec §5.8; gateway OAS PUT and
DELETE on /control-programs and /calendars).

A replacement is checked like a new one. When it changes what assigned groups run (their
calendar, or the program of their calendar), the new lighting section is pushed exactly as
an assignment pushes it (validated, stored atomically) before the store is saved; a plan
the gateway cannot run is refused with 422 and nothing changes. A program a calendar uses,
or a calendar groups run, cannot be deleted (422 deletingResourceIsReferred).
"""

from agent.errors import Refused
from agent.talq.errors import not_found
from agent.talq.plans import (assigned_lighting, calendar_plan, plan_name, program_plan,
                              programs_of, refuse)

# kind -> (its OAS schema, its collection's path), for bodies and refusal texts
TYPES = {"programs": ("ControlProgramOne", "/control-programs"),
         "calendars": ("Calendar", "/calendars")}


def running(site, calendar_ids) -> dict:
    """Calendar id -> the lighting groups that run it now (from the pushed section)."""
    if site.lighting is None or not calendar_ids:
        return {}
    names = {plan_name(c): c for c in calendar_ids}
    out: dict[str, list] = {}
    for group, body in (site.schedule.current().get("groups") or {}).items():
        # a calendar runs as a Lentera calendar; before rules were built, as a schedule
        found = names.get(body.get("calendar"), names.get(body.get("schedule"))) \
            if isinstance(body, dict) else None
        if found is not None:
            out.setdefault(found, []).append(group)
    return out


async def replace(site, store, kind: str, items: list) -> list:
    """PUT: every item replaces an existing one of its id (404 when none); the bodies kept."""
    programs, calendars = dict(store.programs), dict(store.calendars)
    for item in items:                        # all checked before anything is pushed or saved
        if kind == "programs":
            plan = program_plan(item)
            new, table, value = plan["id"], programs, plan
        else:
            calendar_plan(item, programs)
            new, table, value = item["id"], calendars, item
        if new not in table:
            path = TYPES[kind][1]
            raise not_found(f"no {kind[:-1]} {new[:60]!r} to replace: create it with POST "
                            f"{path} (GET {path} lists them)")
        table[new] = value
    lighting = before = site.schedule.current() if site.lighting is not None else None
    for cid, groups in running(site, calendars).items():
        lighting = assigned_lighting(lighting, groups, calendars[cid], programs)
    if lighting != before:
        try:
            await site.schedule.push(lighting, site.lighting)
        except Refused as exc:
            raise refuse("assignmentEntityNotValid", f"the groups that run it cannot run "
                         f"the new plan: {exc}; correct it and send the PUT again (the groups "
                         "keep the plan they run)") from None
    await store.save(programs, calendars)
    return [programs[i["id"]]["body"] if kind == "programs" else calendars[i["id"]]
            for i in items]


async def delete(site, store, kind: str, ident: str) -> dict:
    """DELETE: the body as it was; refused while something refers to it."""
    programs, calendars = dict(store.programs), dict(store.calendars)
    table = programs if kind == "programs" else calendars
    if ident not in table:
        path = TYPES[kind][1]
        raise not_found(f"no {kind[:-1]} {ident[:60]!r} to delete: GET {path} lists them")
    if kind == "programs":
        users = [c for c, body in calendars.items() if ident in programs_of(body)]
        if users:
            raise refuse("deletingResourceIsReferred", f"program {ident} runs in calendar(s) "
                         f"{', '.join(sorted(users))[:200]} (as defaultProgram or in a rule): "
                         "replace or delete them first")
    else:
        groups = running(site, [ident]).get(ident)
        if groups:
            raise refuse("deletingResourceIsReferred", f"calendar {ident} runs on group(s) "
                         f"{', '.join(sorted(groups))[:200]}: assign them another calendar, or "
                         "unassign it (POST /assign-commands with the groups as addresses and "
                         "entity {resource: calendars, address: \"\"}) first")
    gone = table.pop(ident)
    await store.save(programs, calendars)
    return gone["body"] if kind == "programs" else gone
