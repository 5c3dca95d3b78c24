"""What the plots show: one light's or one group's history, from agent/store/history.py."""

import time

from agent.local.view import groups_of


def plot_names(site) -> dict[str, list[str]]:
    """{'device': [lights with history], 'group': [groups]} to choose from."""
    lights = [d.id for d in site.config.devices
              if site.lighting is None or d.id in site.lighting.devices]
    return {"device": lights, "group": sorted(groups_of(site))}


def _choice(raw, names: dict) -> dict:
    kind, _, name = (raw or "").partition(":")
    if kind in names and name in names[kind]:
        return {"kind": kind, "name": name}
    if names["device"]:
        return {"kind": "device", "name": names["device"][0]}
    return {"kind": "group", "name": (names["group"] or [""])[0]}


def _group_series(history, lights: list[str], since: float, until: float) -> list[tuple]:
    """Sum of power and mean dim per bucket over the group's lights."""
    buckets: dict[float, list] = {}
    for light in lights:
        for ts, power, dim in history.series(light, since, until):
            acc = buckets.setdefault(ts, [0.0, 0, 0])
            acc[0] += power
            acc[1] += dim
            acc[2] += 1
    return [(ts, p, d / n) for ts, (p, d, n) in sorted(buckets.items())]


def _group_nights(history, lights: list[str]) -> list[tuple]:
    """Summed energy and mean burn hours per night over the group's lights."""
    totals: dict[str, list] = {}
    for light in lights:
        for night, wh, burn in history.nights(light):
            acc = totals.setdefault(night, [0.0, 0.0, 0])
            acc[0] += wh
            acc[1] += burn
            acc[2] += 1
    return [(n, round(wh, 1), round(burn / k, 2)) for n, (wh, burn, k) in sorted(totals.items())]


def plot_data(site, raw_choice, names: dict, now: float | None = None) -> tuple:
    """(choice, series [(ts, W, dim)], since, until, nights [(night, Wh, h)])."""
    history = site.history
    choice = _choice(raw_choice, names)
    until = time.time() if now is None else now
    since = until - history.slots * history.bucket_s
    members: list[str] = []
    if choice["kind"] == "device":
        series = history.series(choice["name"], since, until)
        nights = history.nights(choice["name"])
    else:
        members = groups_of(site).get(choice["name"], [])
        series = _group_series(history, members, since, until)
        nights = _group_nights(history, members)
    if series:
        since = max(since, series[0][0] - history.bucket_s)
    choice["faults"] = _faults(site, members if choice["kind"] == "group" else [choice["name"]])
    return choice, series, since, until, nights


def _faults(site, lights: list[str]) -> list[tuple]:
    """[(machine time, kind)] of the faults raised on these lights (the plots' own clock)."""
    events = site.recent_events.items() if site.recent_events is not None else []
    wanted = set(lights)
    return [(e.get("real", e["ts"]), e["event"]) for e in events
            if e["alarm"] and e["device"] in wanted and (e.get("fields") or {}).get("state") == "raised"]
