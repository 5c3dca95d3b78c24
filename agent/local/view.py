"""What the crew sees, as plain data: one row per light and the site's summary.

The console's pages, its JSON and GeoJSON, and `lentera status` all read these, so a phone
and a terminal never disagree. `site` is the running Agent (duck-typed: config, lighting,
history, clock, uplink, full_status, recent_events).
"""

import time

LAMP_FAILURE = 1
FAULT_NAMES = ("lamp", "driver-temp", "over-voltage", "under-voltage")


def fault_names(bits: int) -> list[str]:
    """Names of the set fault bits of a controller (drivers/profiles/streetlight-generic)."""
    return [n for i, n in enumerate(FAULT_NAMES) if bits >> i & 1] + (
        [f"bit{i}" for i in range(len(FAULT_NAMES), 16) if bits >> i & 1])


def light_state(reading: dict | None, write_error: str | None) -> str:
    """'on', 'off', 'fault' or 'unknown' (no good reading) for a light."""
    if reading is None or reading.get("quality") != "good":
        return "unknown"
    values = reading.get("values") or {}
    if write_error or int(values.get("faults", 0) or 0) or values.get("lamp_state") == 2:
        return "fault"
    return "on" if values.get("switch") else "off"


def held_until(lighting, light: str, source: str):
    """Expiry (epoch s, lighting clock) of a held maintenance override or city command."""
    if lighting is None or source not in ("maintenance", "command"):
        return None
    out = lighting.outputs.get(light, {})
    if out.get("until") is not None:          # arbitration that reports it itself
        return out["until"]
    held = getattr(getattr(lighting.controller, "arbiter", None), "held", {})
    for entry in held.get(source, []):        # newest first: the one that decides the light
        if light in entry.lights:
            return entry.expires_s
    return None


def _row(site, device, now_s: float) -> dict:
    lighting = site.lighting
    if site.history is not None:
        reading = site.history.latest.get(device.id)
    else:                                     # no console: the lighting's last good values
        values = lighting.latest.get(device.id) if lighting else None
        reading = {"quality": "good", "values": values, "ts": None} if values else None
    out = (lighting.outputs.get(device.id) if lighting else None) or {}
    error = lighting.write_errors.get(device.id) if lighting else None
    values = (reading or {}).get("values") or {}
    source = out.get("source")
    loc = device.location
    row = {"id": device.id, "state": light_state(reading, error),
           "switch": values.get("switch"), "dim": values.get("dim"),
           "power": values.get("power"), "voltage": values.get("voltage"),
           "faults": fault_names(int(values.get("faults", 0) or 0)),
           "quality": (reading or {}).get("quality", "none"),
           "age_s": round(now_s - reading["ts"] / 1000) if reading and reading["ts"] else None,
           "source": source, "until": held_until(lighting, device.id, source),
           "simulated": bool(getattr(site.clock, "warped", False)),   # until is lighting time
           "wants": {"switch": out["switch"], "dim": out["dim"]} if out else None,
           "write_error": error,
           "lat": loc.lat if loc else None, "lon": loc.lon if loc else None}
    return row


def light_rows(site, group: str | None = None) -> list[dict]:
    """Every light (devices with a switch), or those of one group, in config order."""
    members = set(groups_of(site).get(group, [])) if group else None
    now_s = time.time()
    rows = []
    for device in site.config.devices:
        if members is not None and device.id not in members:
            continue
        if site.lighting is not None and device.id not in site.lighting.devices:
            continue
        rows.append(_row(site, device, now_s))
    return rows


def groups_of(site) -> dict[str, list[str]]:
    """Lighting groups and config groups by name."""
    groups = dict(site.config.groups)
    if site.lighting is not None:
        groups.update(site.lighting.controller.groups)
    return groups


def clock_summary(site) -> dict:
    """Clock trust as the crew needs it: trusted or not, warped or not, the lighting time."""
    clock = site.clock
    return {"trusted": bool(clock.trusted()), "warped": bool(getattr(clock, "warped", False)),
            "now_s": clock.wall(), "timezone": site.config.gateway.timezone}


async def site_summary(site) -> dict:
    """Uplink, backlog, clock and per-source counts for the console's header."""
    outbox = await site.outbox.status()
    return {"gateway": site.config.gateway.id, "site": site.config.gateway.site,
            "uplink": {"connected": site.uplink.connected.is_set(),
                       "url": site.config.uplink.mqtt.url},
            "backlog": outbox["backlog"], "oldest_age_s": outbox["oldest_age_s"],
            "clock": clock_summary(site),
            "oversubscribed": behind_buses(site),
            "sources": site.lighting.status()["sources"] if site.lighting else {}}


def behind_buses(site) -> list[str]:
    """The cause, with what to do, of every bus that cannot keep its configured poll rate."""
    return [s.status()["oversubscribed_cause"] for s in site.schedulers.values()
            if s.rate.oversubscribed()]


async def local_status(site) -> dict:
    """`lentera status`: the full status snapshot plus lights, clock and recent faults."""
    snapshot = await site.full_status()
    snapshot["clock"] = clock_summary(site)
    snapshot["lights"] = light_rows(site)
    snapshot["devices"] = {d: {"quality": r.get("quality"), "error": r.get("error"),
                               "age_s": round(time.time() - r["ts"] / 1000)}
                           for d, r in (site.history.latest.items() if site.history else ())}
    events = site.recent_events.items() if site.recent_events is not None else []
    snapshot["faults"] = [e for e in events if e["alarm"]][-10:]
    return snapshot
