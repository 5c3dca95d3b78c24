"""The console as a crew uses it outdoors: a 390x844 phone, English and Bahasa Indonesia.

Each point of issue 22 has a DOM or pixel check here, and every view is saved as a screenshot
under docs/screenshots/ (console-<view>-<lang>.png) for people to look at.
"""

import re

import pytest

from agent.local.i18n import _TEXT
from agent.local.svg import COLOURS
from tests.support.console import REPO, ConsoleRig, post_action, wait_until
from tests.support.times import unlabelled_times

LIGHTS = 24
SHOTS = REPO / "docs" / "screenshots"
LANGS = ("en", "id")


class Outdoors(ConsoleRig):
    """24 poles, a broker, the agent under time warp and a phone-sized Chromium."""

    def __init__(self, tmp):
        super().__init__(tmp, LIGHTS, console=", relay_min_interval: 60s",
                         extra="anomaly: {period: 1s}\n")

    def view(self, lang: str, view: str = ""):
        """A logged-in page showing `view` in `lang`."""
        page = self.page()
        page.goto(f"{self.url}/lang?to={lang}&back=/{view}")
        page.wait_for_selector("#view")
        return page


@pytest.fixture(scope="module")
def outdoors(tmp_path_factory):
    peers = Outdoors(tmp_path_factory.mktemp("outdoors"))
    yield peers
    peers.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)


def visible_text(page) -> str:
    """What a person reads: the page's text outside elements that carry outside data."""
    return page.evaluate("""() => {
        const clone = document.body.cloneNode(true);
        clone.querySelectorAll('.said, title, script, [hidden]').forEach(e => e.remove());
        return clone.innerText || clone.textContent;
    }""")


@pytest.mark.parametrize("lang", LANGS)
def test_events_read_as_sentences_with_rounded_named_evidence(outdoors, lang):
    outdoors.fail_lamp_3()
    page = outdoors.view(lang, "events")
    word = _TEXT["f_lampFailure"][LANGS.index(lang)]

    def has_failure():
        page.reload()
        return word in page.text_content("ul.events")
    wait_until(has_failure, "the lamp failure among the events", 60)
    text = page.text_content("ul.events")
    line = next(li for li in page.locator("ul.events li").all_text_contents() if word in li)
    assert "L-003" in line and re.search(r"\d+ W", line), line       # named, with units
    assert not re.search(r"\d\.\d{3,}|\d{6,}", line), line            # rounded: no 16-digit score
    assert "{" not in text and "'" not in line and "\x02" not in text and "&amp;" not in text
    assert unlabelled_times(page.inner_text("main")) == [], page.inner_text("main")
    shot(page, f"events-{lang}")


@pytest.mark.parametrize("lang", LANGS)
def test_results_say_what_happened(outdoors, lang):
    light = {"en": "L-010", "id": "L-011"}[lang]       # relay protection: one light per run
    page = outdoors.view(lang)
    page.locator(f'.lights li[data-l="{light}"]').click()
    page.wait_for_selector("#act:not([hidden])")
    page.click('#act button[value="off"]')
    page.wait_for_selector("#act-msg.ok")
    done = page.text_content("#act-msg")
    want = {"en": f"{light}: switched off for 30 min", "id": f"{light}: dimatikan selama 30 mnt"}[lang]
    assert done == want, done
    page.click('#act button[value="on"]')
    page.wait_for_selector("#act-msg.err")
    refused = page.text_content("#act-msg")
    pattern = {"en": rf"^{light}: refused, relay protection, try again in \d+ s$",
               "id": rf"^{light}: ditolak, proteksi relai, coba lagi dalam \d+ detik$"}[lang]
    assert re.match(pattern, refused), refused
    shot(page, f"result-{lang}")
    page.click('#act button[value="release"]')
    page.wait_for_selector("#act-msg.ok")


def _overlaps(page) -> dict:
    return page.evaluate("""() => {
        const svg = document.getElementById('map'), vb = svg.viewBox.baseVal;
        const poles = [...svg.querySelectorAll('circle.pole')].map(c => ({
            x: +c.getAttribute('cx'), y: +c.getAttribute('cy'), r: +c.getAttribute('r')}));
        const hits = [], clipped = [];
        svg.querySelectorAll('text.label').forEach(t => {
            const b = t.getBBox();
            if (b.x < 0 || b.y < 0 || b.x + b.width > vb.width || b.y + b.height > vb.height) {
                clipped.push(t.textContent);
            }
            poles.forEach(p => {
                const nx = Math.min(Math.max(p.x, b.x), b.x + b.width);
                const ny = Math.min(Math.max(p.y, b.y), b.y + b.height);
                if ((nx - p.x) ** 2 + (ny - p.y) ** 2 < p.r ** 2) { hits.push(t.textContent); }
            });
        });
        const xs = poles.map(p => p.x), ys = poles.map(p => p.y);
        return {hits, clipped, labels: svg.querySelectorAll('text.label').length,
                left: Math.min(...xs), right: vb.width - Math.max(...xs),
                top: Math.min(...ys), bottom: vb.height - Math.max(...ys)};
    }""")


@pytest.mark.parametrize("lang", LANGS)
def test_map_labels_never_cover_a_pole_and_the_street_fills_the_drawing(outdoors, lang):
    page = outdoors.view(lang, "map")
    page.wait_for_selector("#map circle.pole")
    found = _overlaps(page)
    assert found["hits"] == [] and found["clipped"] == [], found
    assert found["labels"] >= LIGHTS * 0.75, found                  # most poles are named
    assert min(found["left"], found["right"], found["top"], found["bottom"]) >= 10, found
    assert abs(found["left"] - found["right"]) <= 2 and abs(found["top"] - found["bottom"]) <= 2
    pole = page.locator('circle[data-l="L-007"]')
    before = pole.evaluate("c => getComputedStyle(c).fill")
    pole.click()
    page.wait_for_selector("#act:not([hidden])")
    assert pole.evaluate("c => getComputedStyle(c).fill") == before      # keeps its state colour
    assert page.locator('circle[data-ring="L-007"]').evaluate(
        "c => getComputedStyle(c).stroke !== 'none' && c.classList.contains('sel')")
    # pixel check: the pole's centre still has its state colour on the screenshot
    box = pole.bounding_box()
    png = page.screenshot(clip={"x": box["x"] + box["width"] / 2 - 1,
                                "y": box["y"] + box["height"] / 2 - 1, "width": 2, "height": 2})
    assert _centre_colour(png) == _rgb(COLOURS[pole.get_attribute("data-state")])
    shot(page, f"map-{lang}")


@pytest.mark.parametrize("lang", LANGS)
def test_the_poles_at_the_bend_are_labelled_clear_of_every_pole_and_ring(outdoors, lang):
    """Before: 001 and 003, on the drawing's left edge at the street's bend, had no free side
    at a 30 px pad and went unlabelled (only their tooltip named them)."""
    page = outdoors.view(lang, "map")
    page.wait_for_selector("#map circle.pole")
    found = page.evaluate("""() => {
        const svg = document.getElementById('map'), out = {labels: [], hits: []};
        const rings = [...svg.querySelectorAll('circle.ring')].map(c => ({
            l: c.dataset.ring, x: +c.getAttribute('cx'), y: +c.getAttribute('cy'),
            r: +c.getAttribute('r')}));
        svg.querySelectorAll('text.label').forEach(t => {
            const b = t.getBBox();
            out.labels.push(t.textContent);
            rings.forEach(p => {
                const nx = Math.min(Math.max(p.x, b.x), b.x + b.width);
                const ny = Math.min(Math.max(p.y, b.y), b.y + b.height);
                if ((nx - p.x) ** 2 + (ny - p.y) ** 2 < p.r ** 2) {
                    out.hits.push(t.textContent + ' on ' + p.l);
                }
            });
        });
        return out;
    }""")
    assert {"001", "003"} <= set(found["labels"]), found["labels"]
    assert found["hits"] == [], found["hits"]


def test_a_group_dim_shows_in_the_dim_line_of_a_members_plot(outdoors):
    page = outdoors.view("en")
    answer = post_action(page, {"op": "dim", "group": "road", "dim": "40", "hold_s": "600"})
    assert answer["status"] == 200, answer
    page.goto(f"{outdoors.url}/plots?of=device:L-012")
    page.wait_for_selector("svg#night polyline#dim")

    def last_dim_pct():
        page.reload()
        points = page.get_attribute("svg#night polyline#dim", "points").split()
        top, inner_h = 10, 190 - 22 - 10
        last = float(points[-1].split(",")[1])
        return round(100 * (1 - (last - top) / inner_h))
    try:
        wait_until(lambda: last_dim_pct() == 40, "L-012's dim line at the group's 40 %", 30)
        shot(page, "plots-group-dim-en")
    finally:
        post_action(page, {"op": "release", "group": "road"})


def _rgb(hex_colour: str) -> tuple:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def _centre_colour(png: bytes) -> tuple:
    import struct
    import zlib
    # a 2x2 RGB(A) PNG from Chromium: inflate the IDAT and read the first pixel
    pos, idat, width, channels = 8, b"", 0, 4
    while pos < len(png):
        size, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + size]
        if kind == b"IHDR":
            width, colour_type = struct.unpack(">I", data[:4])[0], data[9]
            channels = 4 if colour_type == 6 else 3
        elif kind == b"IDAT":
            idat += data
        pos += 12 + size
    raw = zlib.decompress(idat)
    first = raw[1:1 + channels]      # row 0, pixel 0: every PNG filter leaves it as it is
    return tuple(first[:3])


@pytest.mark.parametrize("lang", LANGS)
def test_the_action_sheet_never_hides_a_light(outdoors, lang):
    page = outdoors.view(lang)
    page.locator('.lights li[data-l="L-001"]').click()
    page.wait_for_selector("#act:not([hidden])")
    hidden = page.evaluate("""() => {
        const sheet = document.getElementById('act'), out = [];
        document.querySelectorAll('#view .lights li[data-l]').forEach(li => {
            window.scrollTo(0, li.offsetTop - 120);
            const r = li.getBoundingClientRect(), top = sheet.getBoundingClientRect().top;
            const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            if (r.bottom > top || !at || !li.contains(at)) { out.push(li.dataset.l); }
        });
        return out;
    }""")
    assert hidden == [], f"under the sheet whatever the scroll: {hidden}"
    last = page.locator('.lights li[data-l="L-024"]')
    last.click()                                       # a real tap while the sheet is open
    assert page.text_content("#act-what") == "L-024"
    shot(page, f"site-sheet-{lang}")


@pytest.mark.parametrize("lang", LANGS)
def test_plots_have_a_percent_axis_an_outside_legend_a_true_title_and_fault_marks(outdoors, lang):
    outdoors.fail_lamp_3()
    page = outdoors.view(lang, "plots?of=device:L-003")
    page.wait_for_selector("svg#night")
    wait_until(lambda: page.reload() or page.locator("svg#night path.fault").count() >= 1,
               "a fault mark on L-003's plot", 60)
    title = page.text_content("#night-title")
    assert "night" not in title.lower() and "semalam" not in title.lower()
    assert unlabelled_times(title) == [] and len(re.findall(r"\d\d:\d\d [+-]\d\d", title)) == 2
    assert page.locator("svg#night text.axis-pct").all_text_contents() == ["100 %", "0 %"]
    geometry = page.evaluate("""() => {
        const svg = document.getElementById('night'), vb = svg.viewBox.baseVal;
        const key = svg.nextElementSibling, s = svg.getBoundingClientRect();
        const ticks = [...svg.querySelectorAll('text.tick')]
            .filter(t => { const b = t.getBBox(); return b.x < vb.x || b.x + b.width > vb.x + vb.width; })
            .map(t => t.textContent);
        return {keyBelow: key.classList.contains('plotkey') && key.getBoundingClientRect().top >= s.bottom - 1,
                cut: ticks};
    }""")
    assert geometry == {"keyBelow": True, "cut": []}, geometry      # no label cut at an edge
    bars = page.locator("svg#nights rect.bar").count()
    assert page.locator("svg#nights text.val").count() == bars
    shot(page, f"plots-{lang}")


def test_bahasa_indonesia_is_complete_on_every_view(outdoors):
    english_only = {en for en, id_ in _TEXT.values() if en != id_ and len(en) > 3}
    page = outdoors.view("id")
    seen = []
    for view in ("", "map", "plots", "events"):
        page.goto(f"{outdoors.url}/{view}")
        page.wait_for_selector("#view")
        if view == "":
            page.locator(".lights li[data-l]").first.click()
            page.wait_for_selector("#act:not([hidden])")
        text = visible_text(page)
        seen += [f"/{view}: {en!r}" for en in english_only
                 if re.search(rf"(?<![\w-]){re.escape(en)}(?![\w-])", text)]
    assert seen == [], seen
    shot(page, "events-id-full")


def test_every_word_has_both_languages_with_the_same_placeholders():
    for key, (en, id_) in _TEXT.items():
        assert en.strip() and id_.strip(), key
        assert set(re.findall(r"\{\w+\}", en)) == set(re.findall(r"\{\w+\}", id_)), key
