"""Inline SVG for the console: the site map and the plots. No tiles, no scripts, no fonts.

Coordinates are the gateway's own: an equirectangular projection of the lights' lat/lon,
scaled by cos(latitude) so a street looks like a street, fitted into the drawing.
"""

import math
import time
from html import escape

from agent.platform.clock import offset_label

COLOURS = {"on": "#f2b705", "off": "#5b6470", "fault": "#d7263d", "unknown": "#9b59b6"}
MAP_MIN_H, MAP_MAX_H = 140, 420
LABEL_CHAR_W, LABEL_H = 6.0, 10.0           # 10 px labels (console.css), generous widths
# the pad leaves room for a label beside an outer pole, the largest included (radius 9, ring
# clearance 5, gap 3, three characters, 1 px edge): poles 001/003 at the bend of a street on
# the drawing's edge had no free side at a pad of 30 and went unlabelled
MAP_W, MAP_H, MAP_PAD = 360, 300, 9 + 5 + 3 + 3 * LABEL_CHAR_W + 1


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


def fit_height(points: list[tuple], width: float = MAP_W, pad: float = MAP_PAD) -> float:
    """The drawing's height for these lights: their own aspect, so they fill it (no empty box)."""
    if len(points) < 2:
        return MAP_MIN_H
    lats = [p[0] for p in points]
    k = math.cos(math.radians(sum(lats) / len(lats)))
    span_x = (max(p[1] for p in points) - min(p[1] for p in points)) * k
    span_y = max(lats) - min(lats)
    if span_x <= 0:
        return MAP_MAX_H
    return round(min(MAP_MAX_H, max(MAP_MIN_H, span_y / span_x * (width - 2 * pad) + 2 * pad)))


def _hits(box: tuple, circles: list[tuple], boxes: list[tuple], width: float, height: float) -> bool:
    x0, y0, x1, y1 = box
    if x0 < 1 or y0 < 1 or x1 > width - 1 or y1 > height - 1:
        return True                                   # clipped by the drawing's edge
    for cx, cy, r in circles:
        nx, ny = min(max(cx, x0), x1), min(max(cy, y0), y1)
        if (nx - cx) ** 2 + (ny - cy) ** 2 < (r + 1.5) ** 2:
            return True
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in boxes)


def place_labels(xy: list[tuple], texts: list[str], radius: float, width: float,
                 height: float) -> list:
    """(x, y, anchor) of each label beside its pole, clear of every pole, label and edge; None
    where no side is free (the pole's name is still in its tooltip and the list)."""
    clear = radius + 5                                # the selection ring's outer edge
    circles = [(x, y, clear) for x, y in xy]
    boxes, out = [], []
    for (x, y), text in zip(xy, texts):
        w, h = LABEL_CHAR_W * len(text), LABEL_H
        spots = ((x, y - clear - 4, "middle"), (x, y + clear + h + 2, "middle"),
                 (x + clear + 3, y + h / 2 - 1, "start"), (x - clear - 3, y + h / 2 - 1, "end"))
        chosen = None
        for lx, ly, anchor in spots:
            left = lx - w / 2 if anchor == "middle" else lx if anchor == "start" else lx - w
            box = (left, ly - h + 1, left + w, ly + 2)
            if not _hits(box, circles, boxes, width, height):
                chosen = (round(lx, 1), round(ly, 1), anchor)
                boxes.append(box)
                break
        out.append(chosen)
    return out


def _radius(xy: list[tuple], most: float) -> float:
    """Poles no bigger than a third of the gap to their nearest neighbour, so none touch."""
    if len(xy) < 2 or len(xy) > 400:                  # 400: a quadratic look is still cheap
        return most
    gap = min(math.dist(a, b) for i, a in enumerate(xy) for b in xy[i + 1:])
    return round(max(3.5, min(most, gap / 3)), 1)


def map_svg(rows: list[dict], selected: set = frozenset()) -> str:
    """The lights that have a position, as tappable circles coloured by state, a selection ring
    around (never over) the state colour, and labels that never cover a pole."""
    placed = [r for r in rows if r["lat"] is not None]
    points = [(r["lat"], r["lon"]) for r in placed]
    height = fit_height(points)
    xy = project(points, MAP_W, height)
    radius = _radius(xy, 9 if len(placed) <= 60 else 5 if len(placed) <= 300 else 3.5)
    texts = [r["id"][-3:] for r in placed]
    spots = place_labels(xy, texts, radius, MAP_W, height) if len(placed) <= 60 else [None] * len(placed)
    parts = [f'<svg id="map" viewBox="0 0 {MAP_W} {height}" role="img" '
             f'xmlns="http://www.w3.org/2000/svg"><rect width="{MAP_W}" height="{height}" '
             'class="ground"/>']
    for row, (x, y), text, spot in zip(placed, xy, texts, spots):
        ident = escape(row["id"])
        sel = " sel" if row["id"] in selected else ""
        parts.append(f'<circle data-ring="{ident}" cx="{x}" cy="{y}" r="{radius + 3.5}" '
                     f'class="ring{sel}"/>'
                     f'<circle data-l="{ident}" data-state="{row["state"]}" '
                     f'data-lat="{row["lat"]}" data-lon="{row["lon"]}" cx="{x}" cy="{y}" '
                     f'r="{radius}" fill="{COLOURS[row["state"]]}" class="pole{sel}">'
                     f'<title>{ident}: {row["state"]}</title></circle>')
        if spot is not None:
            parts.append(f'<text x="{spot[0]}" y="{spot[1]}" text-anchor="{spot[2]}" '
                         f'class="label">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _clock(ts: float, offset_s: int) -> str:
    return time.strftime("%H:%M", time.gmtime(ts + offset_s))   # the axis names its offset once


def _ticks(since: float, until: float, offset_s: int, x, left: float, right: float) -> list:
    """Round local times across the window; a label that would be cut at an edge is left out."""
    span = until - since
    step = next((st for st in (60, 300, 600, 1800, 3600, 7200) if span / st <= 6), 10800)
    first = math.ceil((since + offset_s) / step) * step - offset_s
    out = []
    for t in range(int(first), int(until) + 1, step):
        if left + 14 <= x(t) <= right - 14:
            out.append((x(t), _clock(t, offset_s)))
    return out


def night_plot(series: list[tuple], since: float, until: float, offset_s: int,
               labels: dict, faults: list = ()) -> str:
    """Power (line, W, left axis) and dim (dashed, %, its own right axis) over a time window,
    ticks in gateway time, a red mark at each fault raised; the legend sits below the plot."""
    w, h, left, right, bottom, top = 360, 190, 38, 34, 22, 10
    inner_w, inner_h = w - left - right, h - bottom - top
    pmax = max([p for _, p, _ in series] + [1.0])
    pmax = math.ceil(pmax / 10) * 10

    def x(ts):
        return round(left + (ts - since) / max(until - since, 1) * inner_w, 1)

    def y(frac):
        return round(top + inner_h * (1 - frac), 1)
    power = " ".join(f"{x(t)},{y(p / pmax)}" for t, p, _ in series)
    dim = " ".join(f"{x(t)},{y(d / 100)}" for t, _, d in series)
    ticks = "".join(f'<line x1="{tx}" x2="{tx}" y1="{top}" y2="{top + inner_h}" class="grid"/>'
                    f'<text x="{tx}" y="{h - 6}" class="tick" text-anchor="middle">{text}</text>'
                    for tx, text in _ticks(since, until, offset_s, x, left, left + inner_w))
    marks = "".join(f'<path d="M{x(t)} {top} l-4 -7 h8 z" class="fault" data-ts="{t}">'
                    f'<title>{escape(str(kind))}</title></path>'
                    for t, kind in faults if since <= t <= until)
    return (f'<svg class="plot" id="night" viewBox="0 -8 {w} {h + 8}" '
            f'xmlns="http://www.w3.org/2000/svg" data-pmax="{pmax}" data-since="{since}" '
            f'data-until="{until}"><rect x="{left}" y="{top}" width="{inner_w}" '
            f'height="{inner_h}" class="frame"/>{ticks}'
            f'<text x="{left - 3}" y="{top + 8}" class="tick axis-w" text-anchor="end">{pmax:g} W</text>'
            f'<text x="{left - 3}" y="{top + inner_h}" class="tick axis-w" text-anchor="end">0 W</text>'
            f'<text x="{w - 2}" y="{top + 8}" class="tick axis-pct" text-anchor="end">100 %</text>'
            f'<text x="{w - 2}" y="{top + inner_h}" class="tick axis-pct" text-anchor="end">0 %</text>'
            f'<polyline id="power" points="{power}" class="power" fill="none"/>'
            f'<polyline id="dim" points="{dim}" class="dim" fill="none"/>{marks}</svg>'
            f'<p class="plotkey"><span class="k-power">{escape(labels["power"])}</span> '
            f'<span class="k-dim">{escape(labels["dim"])}</span>'
            + (f' <span class="k-fault">{escape(labels["fault"])}</span>' if marks else "")
            + f' <span class="k-zone">{offset_label(offset_s)}</span></p>')


def _short(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


def nights_plot(nights: list[tuple], labels: dict) -> str:
    """Energy (bars, Wh, value on each) and burn hours (dots, 0-24 h right axis) per night,
    oldest left, each night's day under its bar; the legend sits below the plot."""
    w, h, left, right, bottom, top = 360, 180, 34, 30, 30, 14
    inner_w, inner_h = w - left - right, h - bottom - top
    emax = max([e for _, e, _ in nights] + [1.0])
    slot = inner_w / 14
    parts = [f'<svg class="plot" id="nights" viewBox="0 0 {w} {h}" '
             f'xmlns="http://www.w3.org/2000/svg"><rect x="{left}" y="{top}" '
             f'width="{inner_w}" height="{inner_h}" class="frame"/>'
             f'<text x="{left - 3}" y="{top + 8}" class="tick" text-anchor="end">{_short(emax)} Wh</text>'
             f'<text x="{w - 2}" y="{top + 8}" class="tick" text-anchor="end">24 h</text>'
             f'<text x="{w - 2}" y="{top + inner_h}" class="tick" text-anchor="end">0 h</text>']
    for i, (night, wh, burn) in enumerate(nights[-14:]):
        bx = left + i * slot + 2
        bh = inner_h * wh / emax
        by = top + inner_h - bh
        dot_y = top + inner_h * (1 - min(burn, 24) / 24)
        mid = bx + slot / 2 - 2
        parts.append(f'<rect x="{bx:.1f}" y="{by:.1f}" width="{slot - 4:.1f}" '
                     f'height="{bh:.1f}" class="bar" data-night="{night}" data-wh="{wh}" '
                     f'data-burn="{burn}"><title>{night}: {wh} Wh, {burn} h</title></rect>'
                     f'<text x="{mid:.1f}" y="{max(by - 2, top + 7):.1f}" class="val" '
                     f'text-anchor="middle">{_short(wh)}</text>'
                     f'<circle cx="{mid:.1f}" cy="{dot_y:.1f}" r="2.5" class="burn"/>'
                     f'<text x="{mid:.1f}" y="{h - 18}" class="tick" text-anchor="middle">'
                     f'{night[8:]}</text>')
    first = nights[-14:][0][0] if nights else ""
    parts.append(f'<text x="{left}" y="{h - 5}" class="tick">{first[5:7]}/{first[:4]}</text></svg>'
                 f'<p class="plotkey"><span class="k-bar">{escape(labels["energy"])}</span> '
                 f'<span class="k-burn">{escape(labels["burn"])} (0–24 h)</span></p>')
    return "".join(parts)
