"""The console's HTML, rendered on the gateway (the phone only swaps fragments in).

Everything from outside (light ids, reasons, names) is escaped; no inline script or style,
so the Content-Security-Policy can forbid both.
"""

import json
import time
from html import escape

from agent.local.eventtext import html_sentence
from agent.local.svg import map_svg, nights_plot, night_plot
from agent.platform.clock import offset_label

WARP_SHOWN_S = 60          # an event's own time this far from the real one: show it, simulated

HOLDS_MIN = (10, 30, 60, 120, 240, 480, 720)
RESULT_WORDS = ("res_on", "res_off", "res_dim", "res_release", "res_for", "res_refused",
                "res_relay", "res_failed", "selected", "u_min", "u_h")
VIEWS = ("site", "map", "plots", "events")


def _clock(ts, offset_s: int, with_day: bool = False) -> str:
    """'18:08 +07': gateway time, always with its offset."""
    fmt = "%d/%m %H:%M" if with_day else "%H:%M"      # numeric: no month names to translate
    return f"{time.strftime(fmt, time.gmtime(ts + offset_s))} {offset_label(offset_s)}"


def _age(seconds) -> str:
    if seconds is None:
        return "–"
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


def layout(w: dict, lang: str, view: str, body: str, header: str, user=None,
           csrf: str = "", refresh: float = 5, frag: str = "", hold_default: int = 1800,
           hold_max: float = 43200) -> str:
    """A whole page: header, tabs, the view's fragment and the actions panel."""
    tabs = "".join(f'<a href="/{"" if v == "site" else v}" class="tab{" on" if v == view else ""}"'
                   f'>{w[v]}</a>' for v in VIEWS) if user else ""
    other = "id" if lang == "en" else "en"
    who = (f'<form method="post" action="/logout" class="who"><input type="hidden" '
           f'name="csrf" value="{escape(csrf)}"><span>{escape(user.name)} · {user.role}</span>'
           f'<button>{w["logout"]}</button></form>') if user else ""
    panel = _panel(w, hold_default, hold_max) if user and user.role == "operator" else ""
    viewer = f'<p class="note">{w["viewer"]}</p>' if user and user.role == "viewer" else ""
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="csrf" content="{escape(csrf)}"><title>Lentera</title>'
            '<link rel="stylesheet" href="/static/console.css">'
            '<script src="/static/console.js" defer></script></head><body>'
            f'<header><b>Lentera</b> <a class="lang" href="/lang?to={other}&amp;back=/{view}">'
            f'{other.upper()}</a>{who}</header><nav>{tabs}</nav>{header}{viewer}'
            f'<main id="view" data-frag="{escape(frag)}" data-refresh="{refresh:g}">{body}</main>'
            f'{panel}</body></html>')


def _panel(w: dict, hold_default: int, hold_max: float) -> str:
    said = {k: w[k] for k in RESULT_WORDS}     # console.js words its results with these
    holds = "".join(f'<option value="{m * 60}"{" selected" if m * 60 == hold_default else ""}>'
                    f'{m if m < 60 else m // 60} {w["u_min"] if m < 60 else w["u_h"]}</option>'
                    for m in HOLDS_MIN if m * 60 <= hold_max)
    if hold_default // 60 not in HOLDS_MIN:
        holds = (f'<option value="{hold_default}" selected>{hold_default // 60} {w["u_min"]}'
                 '</option>' + holds)
    return (f'<section id="act" hidden><h2>{w["actions"]}: <span id="act-what"></span></h2>'
            '<form id="act-form"><input type="hidden" name="devices"><input type="hidden" '
            'name="group"><div class="ops">'
            f'<button name="op" value="on">{w["act_on"]}</button>'
            f'<button name="op" value="off">{w["act_off"]}</button>'
            f'<button name="op" value="dim">{w["act_dim"]}</button>'
            '<input type="number" name="dim" min="0" max="100" value="50" aria-label="dim">'
            f'</div><label>{w["hold"]} <select name="hold_s">{holds}</select></label>'
            f'<div class="ops"><button name="op" value="release" class="rel">{w["release"]}'
            f'</button><button type="button" id="act-close">{w["close"]}</button></div>'
            f'<p id="act-msg" role="status" data-words="{escape(json.dumps(said))}"></p>'
            '</form></section>')


def header(w: dict, summary: dict) -> str:
    """Uplink, backlog and clock badges."""
    up = summary["uplink"]["connected"]
    clock = summary["clock"]
    badges = [f'<span class="badge {"ok" if up else "bad"}" id="uplink">'
              f'{w["uplink_up"] if up else w["uplink_down"]}</span>',
              f'<span class="badge" id="backlog">{w["backlog"]} {summary["backlog"]}</span>',
              f'<span class="badge {"ok" if clock["trusted"] else "bad"}" id="clock">'
              f'{w["clock_ok"] if clock["trusted"] else w["clock_bad"]}</span>']
    if clock["warped"]:
        badges.append(f'<span class="badge">{w["warped"]}</span>')
    if summary.get("oversubscribed"):
        badges.append(f'<span class="badge bad" id="oversubscribed" title="'
                      f'{escape(" / ".join(summary["oversubscribed"]))}">{w["behind"]}</span>')
    return (f'<div class="summary"><b>{escape(summary["site"])}</b> '
            f'{"".join(badges)}</div>')


def _source(w: dict, row: dict, offset_s: int) -> str:
    src = row["source"]
    text = w.get(src, src or "–")
    if row["until"]:
        text += f' {w["until"]} <time data-ts="{row["until"]}">{_clock(row["until"], offset_s)}</time>'
        text += f' <small class="sim">{w["simulated"]}</small>' if row.get("simulated") else ""
    return f'<span class="src src-{src}">{text}</span>'


def site_list(w: dict, rows: list[dict], groups: list[str], group, offset_s: int) -> str:
    """The filter and one compact card per light."""
    opts = "".join(f'<option value="{escape(g)}"{" selected" if g == group else ""}>'
                   f'{escape(g)}</option>' for g in groups)
    items = []
    for r in rows:
        power = "–" if r["power"] is None else f'{r["power"]:.1f} W'
        volt = "–" if r["voltage"] is None else f'{r["voltage"]:.0f} V'
        dim = f'{r["dim"]}%' if r["switch"] and r["dim"] is not None else ""
        faults = (f' <em>{escape(", ".join(w.get("fb_" + f, f) for f in r["faults"]))}</em>'
                  if r["faults"] else "")
        quality = w.get("qual_" + str(r["quality"]), escape(str(r["quality"])))
        err = (f' <em class="said">{escape(r["write_error"][:60])}</em>'
               if r["write_error"] else "")
        items.append(f'<li data-l="{escape(r["id"])}" class="s-{r["state"]}"><b>'
                     f'{escape(r["id"])}</b><i>{w[r["state"]]}</i>{_source(w, r, offset_s)}'
                     f'<small>{dim} {power} {volt} {quality} {_age(r["age_s"])}'
                     f'{faults}{err}</small></li>')
    group_attr = f' data-group="{escape(group)}"' if group else ""
    act = (f'<button type="button" class="act-group" data-group="{escape(group)}">'
           f'{w["actions"]}</button>') if group else ""
    return (f'<form class="filter"><select name="group" id="group"><option value="">'
            f'{w["all_groups"]}</option>{opts}</select> <span>{len(rows)} {w["lights"]}</span>'
            f'{act}</form><ul class="lights"{group_attr}>{"".join(items)}</ul>')


def site_map(w: dict, rows: list[dict]) -> str:
    """The map, the selection switch and the lights without a position."""
    unplaced = [r for r in rows if r["lat"] is None]
    rest = ""
    if unplaced:
        rest = (f'<h3>{w["no_position"]}</h3><ul class="lights">' + "".join(
            f'<li data-l="{escape(r["id"])}" class="s-{r["state"]}"><b>{escape(r["id"])}</b>'
            f'<i>{w[r["state"]]}</i></li>' for r in unplaced) + "</ul>")
    legend = "".join(f'<span class="key s-{s}">{w[s]}</span>'
                     for s in ("on", "off", "fault", "unknown"))
    return (f'<label class="many"><input type="checkbox" id="many"> {w["select_many"]}</label>'
            f'<div class="legend">{legend}</div>{map_svg(rows)}{rest}')


def plots(w: dict, choice: dict, names: dict, series: list, since: float, until: float,
          nights: list, offset_s: int) -> str:
    """The chooser, last night's power and dim, and 14 nights of energy and burn hours."""
    opts = "".join(f'<option value="{kind}:{escape(n)}"'
                   f'{" selected" if (kind, n) == (choice["kind"], choice["name"]) else ""}>'
                   f'{escape(n)}</option>' for kind, items in names.items() for n in items)
    body = f'<form class="filter"><select name="of" id="of">{opts}</select></form>'
    if not series and not nights:
        return body + f'<p class="note">{w["no_history"]}</p>'
    labels = {**{k: w[k] for k in ("power", "dim", "energy", "burn")}, "fault": w["fault_mark"]}
    title = w["plot_window"].format(since=_clock(since, offset_s, True),
                                    until=_clock(until, offset_s, True))
    return (body + f'<h3 id="night-title">{escape(title)}</h3>'
            + night_plot(series, since, until, offset_s, labels, choice.get("faults", ()))
            + f'<h3>{w["per_night"]}</h3>' + nights_plot(nights, labels))


def events(w: dict, recent: list[dict], crew: list[dict], offset_s: int,
           warped: bool = False) -> str:
    """Faults, output changes and crew actions in one list, newest first by one clock (the
    machine's), every time in gateway time with its offset; a warped time is marked simulated."""
    rows = [(e.get("real", e["ts"]), e["ts"], html_sentence(w, e), "alarm" if e["alarm"] else "")
            for e in recent[-100:] if e["event"] != "crew_action"]   # crew: from the audit below
    rows += [(e["ts"], e["ts"], html_sentence(w, {"event": "crew_action", "fields": e}), "crew")
             for e in crew if e.get("action") not in (None, "chain_resumed")]
    items = []
    for real, own, text, cls in sorted(rows, key=lambda r: r[0], reverse=True):
        sim = (f' <time class="sim">{w["simulated"]} {_clock(own, offset_s)}</time>'
               if warped and abs(own - real) > WARP_SHOWN_S else "")
        items.append(f'<li class="{cls}"><time>{_clock(real, offset_s, True)}</time>{sim} '
                     f'{text}</li>')
    return (f'<h3>{w["recent"]}</h3><p class="note">{w["gateway_time"]} {offset_label(offset_s)}'
            f'</p><ul class="events">{"".join(items)}</ul>')


def login(w: dict, lang: str, message: str = "") -> str:
    """The login form."""
    msg = f'<p class="err" id="login-msg">{escape(message)}</p>' if message else ""
    body = (f'<form method="post" action="/login" class="login">{msg}<label>{w["name"]}'
            '<input name="name" autocomplete="username" required></label>'
            f'<label>{w["password"]}<input type="password" name="password" '
            'autocomplete="current-password" required></label>'
            f'<button>{w["login"]}</button></form>')
    return layout(w, lang, "site", body, "")
