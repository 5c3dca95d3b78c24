"""What the crew sees: light states, the map projection, escaped pages, GeoJSON."""

from agent.local import pages
from agent.local.geo import geojson
from agent.local.i18n import words
from agent.local.svg import map_svg, project
from agent.local.view import fault_names, light_state


def test_light_state_from_the_last_reading():
    good = {"quality": "good", "values": {"switch": 1, "faults": 0, "lamp_state": 1}}
    assert light_state(good, None) == "on"
    assert light_state({**good, "values": {"switch": 0}}, None) == "off"
    assert light_state({**good, "values": {"switch": 1, "faults": 1}}, None) == "fault"
    assert light_state(good, "timeout") == "fault"
    assert light_state({**good, "quality": "stale"}, None) == "unknown"
    assert light_state(None, None) == "unknown"
    assert fault_names(0b1001) == ["lamp", "under-voltage"] and fault_names(1 << 9) == ["bit9"]


def test_the_projection_keeps_north_up_and_the_aspect():
    (x1, y1), (x2, y2), (x3, y3) = project([(0.0, 0.0), (0.001, 0.0), (0.0, 0.002)])
    assert y2 < y1 and x2 == x1                       # north is up
    assert x3 > x1 and y3 == y1                       # east is right
    assert abs((x3 - x1) - 2 * (y1 - y2)) < 0.5      # degrees are degrees at the equator
    assert project([(1.0, 2.0)]) == [project([(1.0, 2.0)])[0]]   # one light: no division by 0


def row(ident, state="on", lat=-6.1, lon=106.6, **kw):
    base = {"id": ident, "state": state, "switch": 1, "dim": 50, "power": 40.0,
            "voltage": 220.0, "faults": [], "quality": "good", "age_s": 3,
            "source": "schedule", "until": None, "write_error": None, "lat": lat, "lon": lon}
    return {**base, **kw}


def test_outside_text_is_escaped_everywhere():
    w = words("en")
    evil = '<script>alert(1)</script>'
    html = pages.site_list(w, [row("L-1", write_error=evil)], [evil], evil, 0)
    html += pages.events(w, [{"ts": 0, "device": evil, "event": "x", "alarm": True,
                              "fields": {"reason": evil}}], [{"ts": 0, "who": evil}], 0)
    html += pages.login(w, "en", evil)
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_map_and_geojson_list_every_light_placed_or_not():
    rows = [row("L-1"), row("L-2", "fault", -6.2, 106.7), row("L-3", lat=None, lon=None)]
    svg = map_svg(rows)
    assert svg.count("class=\"pole") == 2 and 'data-state="fault"' in svg
    doc = geojson(rows)
    assert [f["id"] for f in doc["features"]] == ["L-1", "L-2", "L-3"]
    assert doc["features"][1]["geometry"] == {"type": "Point", "coordinates": [106.7, -6.2]}
    assert doc["features"][2]["geometry"] is None


def test_both_languages_have_every_word():
    assert set(words("en")) == set(words("id"))
    assert words("id")["map"] == "Peta" and words("xx") == words("en")
