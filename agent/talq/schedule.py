"""ScheduledReportingMode (spec §5.5; data-model OAS): the times of day a logger reports, and
its `randomTime` jitter. A time without a zone designator is the gateway's local time (it
follows DST, as the OAS says); with `Z` or `±hh:mm` it is in that offset."""

import random
import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from agent.talq.errors import bad

TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):"
                  r"([0-5]\d))?$", re.IGNORECASE)
MAX_TIMES = 96
MAX_RANDOM_S = 86400


def decode_schedule(reporting: dict) -> dict:
    """ScheduledReportingMode -> {"times": [(h, m, s, offset s or None)], "random": s}."""
    times = reporting.get("times")
    if not isinstance(times, list) or not 0 < len(times) <= MAX_TIMES:
        raise bad("payloadError", f"reportingMode.times: 1..{MAX_TIMES} times of day "
                  "(HH:MM:SS, optional Z or +hh:mm)")
    parsed = []
    for i, text in enumerate(times):
        found = TIME.match(text) if isinstance(text, str) else None
        if found is None:
            raise bad("payloadError", f"reportingMode.times[{i}] {str(text)[:30]!r}: a time "
                      "of day HH:MM:SS (optional Z or +hh:mm)")
        offset = None
        if found[5]:
            offset = 0 if found[5].upper() == "Z" else (1 if found[5][0] == "+" else -1) * (
                int(found[6]) * 3600 + int(found[7]) * 60)
        parsed.append((int(found[1]), int(found[2]), int(found[3]), offset))
    spread = reporting.get("randomTime", 0)
    if isinstance(spread, bool) or not isinstance(spread, int) or \
            not 0 <= spread <= MAX_RANDOM_S:
        raise bad("payloadError", f"reportingMode.randomTime: whole seconds 0..{MAX_RANDOM_S}")
    return {"times": parsed, "random": spread}


def next_report(schedule: dict, now_s: float, zone, rng=random) -> float:
    """The epoch of the next report after now_s: the first scheduled time to come, plus a
    random 0..randomTime seconds (§5.5: so that gateways do not all report at once)."""
    best = None
    for hour, minute, second, offset in schedule["times"]:
        tz = zone if offset is None else timezone(timedelta(seconds=offset))
        day = datetime.fromtimestamp(now_s, tz).date()
        for add in (0, 1):
            when = datetime.combine(day + timedelta(days=add), time(hour, minute, second),
                                    tz).timestamp()
            if when > now_s:
                best = when if best is None else min(best, when)
                break
    return best + rng.uniform(0, schedule["random"])


def gateway_zone(site):
    """The gateway's zone (gateway.timezone, validated by the config), for times without one."""
    return ZoneInfo(site.config.gateway.timezone)
