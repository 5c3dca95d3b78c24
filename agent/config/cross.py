"""Checks across config keys (buses, profiles, ids, units), on validated and raw data alike.

Out of models.py (which was at its size limit); models re-exports it for its callers.
"""


def cross_problems(bus_names: list, devices: list) -> list[tuple[tuple, str]]:
    """Problems across keys (unknown bus or profile, duplicate ids or units), on raw data too."""
    from drivers.modbus.profile import available_profiles
    profiles = available_profiles()
    problems = []
    seen_ids: set = set()
    seen_units: set = set()
    for i, dev in enumerate(devices):
        if not isinstance(dev, dict):
            continue
        bus, unit, dev_id, profile = (dev.get(k) for k in ("bus", "unit", "id", "profile"))
        if isinstance(bus, str) and bus not in bus_names:
            problems.append((("devices", i, "bus"), f"unknown bus {bus!r}; defined buses: "
                             f"{', '.join(sorted(bus_names))}"))
        if isinstance(profile, str) and profile not in profiles:
            problems.append((("devices", i, "profile"), f"unknown profile {profile!r}; "
                             f"known profiles: {', '.join(profiles)}"))
        if not isinstance(dev_id, (str, int, float, type(None))):
            dev_id = repr(dev_id)       # unhashable junk: its own type error is reported
        if not isinstance(bus, str):
            bus = repr(bus)
        if dev_id is not None and dev_id in seen_ids:
            problems.append((("devices", i, "id"), f"duplicate device id {dev_id!r}"))
        if isinstance(unit, int) and (bus, unit) in seen_units:
            problems.append((("devices", i, "unit"),
                             f"unit {unit} is already used on bus {bus!r}"))
        seen_ids.add(dev_id)
        seen_units.add((bus, unit))
    return problems
