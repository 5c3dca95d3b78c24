"""Events and crew actions as the crew reads them: one sentence each, in the console's language.

Evidence is named and rounded ("power 0 W, expected 48 W"), never a raw dict or a 16-digit
score; text from outside is cut to length first and escaped after, so an entity is never cut
in half, and control characters (a U+0002 from a noisy line) are dropped before either.
"""

from html import escape

MAX_CHARS = 160
# evidence and fields: (word key in i18n, unit, decimals)
QUANTITIES = {
    "power": ("q_power", "W", 0), "expected_power": ("q_expected", "W", 0),
    "rated_power": ("q_rated", "W", 0), "voltage": ("q_voltage", "V", 0), "dim": ("q_dim", "%", 0),
    "lux": ("q_lux", "lx", 0), "cycles_in_window": ("q_cycles", "", 0),
    "stuck_polls": ("q_stuck", "", 0), "energy_drop": ("q_energy_drop", "Wh", 0),
    "energy": ("q_energy", "Wh", 0), "score": ("q_score", "", 2), "driver_temp": ("q_temp", "°C", 1),
}
STATES = {"switch": ("off", "on"), "sun_up": ("q_night", "q_day")}
SKIP = ("old", "first_seen_ts", "ts", "prev", "hash", "addr", "lights", "refused", "errors")


def clean(text) -> str:
    """Printable text: control characters (C0, DEL, C1) dropped, whitespace runs kept single."""
    kept = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return " ".join(kept.split())


def html_text(text, limit: int = MAX_CHARS) -> str:
    """Cut to limit, then escape: an entity is never cut in half."""
    text = clean(text)
    return escape(text if len(text) <= limit else text[:limit - 1] + "…")


def _number(value, decimals: int) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return clean(value)[:24]
    if value != value:                  # NaN: the point was missing
        return "–"
    return f"{value:.{decimals}f}"


def evidence(w: dict, fields: dict) -> str:
    """'power 0 W, expected 48 W, switch on' from the named fields that say why."""
    parts = []
    for key, value in fields.items():
        if key in SKIP or value is None or isinstance(value, (dict, list)):
            continue
        if key in STATES and isinstance(value, (bool, int, float)):
            parts.append(f"{w.get('q_' + key, key)} {w[STATES[key][1 if value else 0]]}")
        elif key in QUANTITIES:
            word, unit, decimals = QUANTITIES[key]
            parts.append(f"{w[word]} {_number(value, decimals)}{' ' + unit if unit else ''}")
        elif key == "lamp_state" and isinstance(value, (int, float)):
            parts.append(f"{w['q_lamp']} {w[('off', 'on', 'fault')[int(value)] if 0 <= value <= 2 else 'unknown']}")
    return ", ".join(parts)


def _output(w: dict, f: dict) -> str:
    new = f.get("new") if isinstance(f.get("new"), dict) else {}
    state = f"{w['on']} {new.get('dim')}%" if new.get("switch") else w["off"]
    source = w.get(f.get("source"), clean(f.get("source", "")))
    return f"{state} ({w['source']}: {source})"


def _crew(w: dict, f: dict) -> tuple:
    action = w.get("op_" + str(f.get("action")), clean(f.get("action", "")))
    result = w.get("r_" + str(f.get("result", "")).replace(" ", "_"), clean(f.get("result", "")))
    text = f"{clean(f.get('who', '?'))}: {action} {clean(f.get('target', ''))} — {result}"
    why = f.get("refused") or f.get("errors")
    if isinstance(why, dict) and why:
        light, reason = next(iter(why.items()))
        return text, f"{clean(light)}: {clean(reason)}"
    return text, ""


def sentence(w: dict, event: dict) -> tuple:
    """(our sentence in w's language, the free text it quotes: a reason, a message) of one
    event as RecentEvents keeps it; both plain text."""
    kind, f = event["event"], event.get("fields") or {}
    who = clean(event.get("device", ""))
    if kind == "output_changed":
        return f"{who}: {_output(w, f)}", clean(f.get("reason", ""))
    if kind == "crew_action":
        return _crew(w, f)
    if kind == "maintenance_override":
        state = w.get("ov_" + str(f.get("state")), clean(f.get("state", "")))
        target = clean(f.get("group") or who)
        return f"{w['maintenance']} {target}: {state}, {clean(f.get('user', ''))}", clean(f.get("reason", ""))
    if kind == "clock_trust":
        return w["clock_ok"] if f.get("trusted") else w["clock_bad"], clean(f.get("reason", ""))
    if kind == "alarm":
        return (f"{w['alarm']} {clean(f.get('rule', ''))} ({w.get('st_' + str(f.get('state')), '')})",
                clean(f.get("message", "")))
    name = w.get("f_" + kind, clean(kind))
    state = w.get("st_" + str(f.get("state")), clean(f.get("state", "")))
    found = evidence(w, {**(f.get("evidence") or {}), "score": f.get("score")}) if "evidence" in f \
        else evidence(w, f)
    return f"{who}: {name} {state}" + (f" — {found}" if found else ""), ""


def html_sentence(w: dict, event: dict, limit: int = MAX_CHARS) -> str:
    """The sentence, then its quoted free text marked `said` (it stays in its own language);
    the whole cut to limit before escaping."""
    text, said = sentence(w, event)
    room = limit - len(text) - 3
    if not said or room < 12:
        return html_text(text, limit)
    return f'{html_text(text, limit)} — <span class="said">{html_text(said, room)}</span>'

