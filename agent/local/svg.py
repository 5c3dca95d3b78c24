"""Inline SVG for the console: the site map and the plots. No tiles, no scripts, no fonts.

Coordinates are the gateway's own: an equirectangular projection of the lights' lat/lon,
scaled by cos(latitude) so a street looks like a street, fitted into the drawing.
"""

import math
import time
from html import escape

COLOURS = {"on": "#f2b705", "off": "#5b6470", "fault": "#d7263d", "unknown": "#9b59b6"}
MAP_W, MAP_H, MAP_PAD = 360, 300, 18


def project(points: list[tuple], width: float = MAP_W, height: float = MAP_H,
            pad: float = MAP_PAD) -> list[tuple]:
    """[(lat, lon)] -> [(x, y)] in a width x height drawing, north up, aspect kept."""
    if not points:
        return []
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    k = math.cos(math.radians(sum(lats) / len(lats)))
    span_x = (max(lons) - min(lons)) * k or 1e-9
    span_y = (max(lats) - min(lats)) or 1e-9
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
    off_x = (width - span_x * scale) / 2
    off_y = (height - span_y * scale) / 2
    return [(round(off_x + (lon - min(lons)) * k * scale, 1),
             round(height - off_y - (lat - min(lats)) * scale, 1)) for lat, lon in points]


def map_svg(rows: list[dict], selected: set = frozenset()) -> str:
    """The lights that have a position, as tappable circles coloured by state."""
    placed = [r for r in rows if r["lat"] is not None]
    xy = project([(r["lat"], r["lon"]) for r in placed])
    radius = 9 if len(placed) <= 60 else 5 if len(placed) <= 300 else 3.5
    parts = [f'<svg id="map" viewBox="0 0 {MAP_W} {MAP_H}" role="img" '
             f'xmlns="http://www.w3.org/2000/svg"><rect width="{MAP_W}" height="{MAP_H}" '
             'class="ground"/>']
    for row, (x, y) in zip(placed, xy):
        ident = escape(row["id"])
        sel = " sel" if row["id"] in selected else ""
        parts.append(f'<circle data-l="{ident}" data-state="{row["state"]}" '
                     f'data-lat="{row["lat"]}" data-lon="{row["lon"]}" cx="{x}" cy="{y}" '
                     f'r="{radius}" fill="{COLOURS[row["state"]]}" class="pole{sel}">'
                     f'<title>{ident}: {row["state"]}</title></circle>')
        if len(placed) <= 60:
            parts.append(f'<text x="{x}" y="{y - radius - 3}" class="label">{ident[-3:]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _clock(ts: float, offset_s: int) -> str:
    return time.strftime("%H:%M", time.gmtime(ts + offset_s))   # the axis names its offset once


def night_plot(series: list[tuple], since: float, until: float, offset_s: int,
               labels: dict) -> str:
    """Power (line, W) and dim (dashed, %) over a time window; hourly ticks in local time."""
    w, h, left, bottom, top = 360, 190, 34, 22, 10
    inner_w, inner_h = w - left - 8, h - bottom - top
    pmax = max([p for _, p, _ in series] + [1.0])
    pmax = math.ceil(pmax / 10) * 10

    def x(ts):
        return round(left + (ts - since) / max(until - since, 1) * inner_w, 1)

    def y(frac):
        return round(top + inner_h * (1 - frac), 1)
    power = " ".join(f"{x(t)},{y(p / pmax)}" for t, p, _ in series)
    dim = " ".join(f"{x(t)},{y(d / 100)}" for t, _, d in series)
    ticks = []
    span = until - since
    step = next((st for st in (60, 300, 600, 1800, 3600, 7200) if span / st <= 6), 10800)
    first = math.ceil((since + offset_s) / step) * step - offset_s
    for t in range(int(first), int(until) + 1, step):
        ticks.append(f'<line x1="{x(t)}" x2="{x(t)}" y1="{top}" y2="{top + inner_h}" '
                     f'class="grid"/><text x="{x(t)}" y="{h - 6}" class="tick">'
                     f'{_clock(t, offset_s)}</text>')
    return (f'<svg class="plot" id="night" viewBox="0 0 {w} {h}" '
            f'xmlns="http://www.w3.org/2000/svg" data-pmax="{pmax}" data-since="{since}" '
            f'data-until="{until}"><rect x="{left}" y="{top}" width="{inner_w}" '
            f'height="{inner_h}" class="frame"/>{"".join(ticks)}'
            f'<text x="2" y="{top + 8}" class="tick">{pmax:g} W</text>'
            f'<text x="2" y="{top + inner_h}" class="tick">0</text>'
            f'<polyline id="power" points="{power}" class="power" fill="none"/>'
            f'<polyline id="dim" points="{dim}" class="dim" fill="none"/>'
            f'<text x="{left + 4}" y="{top + 12}" class="legend">— {escape(labels["power"])}'
            f'  - - {escape(labels["dim"])}</text></svg>')


def nights_plot(nights: list[tuple], labels: dict) -> str:
    """Energy (bars, Wh) and burn hours (dots) per night, oldest left."""
    w, h, left, bottom, top = 360, 170, 34, 30, 10
    inner_w, inner_h = w - left - 8, h - bottom - top
    emax = max([e for _, e, _ in nights] + [1.0])
    slot = inner_w / 14
    parts = [f'<svg class="plot" id="nights" viewBox="0 0 {w} {h}" '
             f'xmlns="http://www.w3.org/2000/svg"><rect x="{left}" y="{top}" '
             f'width="{inner_w}" height="{inner_h}" class="frame"/>'
             f'<text x="2" y="{top + 8}" class="tick">{emax:.0f} Wh</text>']
    for i, (night, wh, burn) in enumerate(nights[-14:]):
        bx = left + i * slot + 2
        bh = inner_h * wh / emax
        by = top + inner_h - bh
        dot_y = top + inner_h * (1 - min(burn, 24) / 24)
        parts.append(f'<rect x="{bx:.1f}" y="{by:.1f}" width="{slot - 4:.1f}" '
                     f'height="{bh:.1f}" class="bar" data-night="{night}" data-wh="{wh}" '
                     f'data-burn="{burn}"><title>{night}: {wh} Wh, {burn} h</title></rect>'
                     f'<circle cx="{bx + slot / 2 - 2:.1f}" cy="{dot_y:.1f}" r="2.5" '
                     'class="burn"/>'
                     f'<text x="{bx:.1f}" y="{h - 16}" class="tick">{night[8:]}</text>')
    parts.append(f'<text x="{left + 4}" y="{h - 3}" class="legend">▮ {escape(labels["energy"])}'
                 f'  • {escape(labels["burn"])} (0–24 h)</text></svg>')
    return "".join(parts)
