"""One clock, labelled: every time the CLI, the console and the demo board show has its offset."""

import time

from click.testing import CliRunner

from agent.cli import main
from agent.cli.console import status_lines
from agent.demo.board import Board
from agent.demo.tour import _format
from agent.local import pages
from agent.local.i18n import words
from agent.platform.clock import clock_text, offset_label
from tests.support.times import unlabelled_times
from tests.agent.config.test_config import REPO

EXAMPLE = REPO / "deploy" / "raspberrypi" / "gateway.example.yaml"
NOW = 1796000000.0


def test_the_scanner_finds_a_bare_time_and_passes_a_labelled_one():
    assert unlabelled_times("until 18:08 by budi") == ["until 18:08 by budi"]
    assert unlabelled_times("until 18:08 +07, since 05:12:09 -03 and 07:00 +05:30") == []
    assert unlabelled_times("dimming: 60% from 22:00 (on 18:00, off 02:00)") == []


def test_offsets_are_written_as_people_read_them():
    assert [offset_label(s) for s in (25200, 19800, -10800, 0)] == ["+07", "+05:30", "-03", "+00"]
    assert clock_text(NOW, "Asia/Jakarta") == "07:53 +07"
    assert clock_text(NOW, "Asia/Jakarta", simulated=True) == "07:53 +07 (simulated)"


def test_lentera_status_labels_every_time_and_marks_warped_ones():
    snapshot = {"gateway": "gw", "site": "s", "version": "1", "uptime_s": 5,
                "clock": {"trusted": True, "warped": True, "timezone": "Asia/Jakarta"},
                "lights": [{"id": "L-001", "state": "off", "dim": None, "power": 0.0, "voltage": 230,
                            "quality": "good", "age_s": 3, "source": "maintenance",
                            "until": NOW + 600, "faults": []}],
                "faults": [{"ts": NOW, "device": "L-002", "event": "lampFailure"}]}
    text = "\n".join(status_lines(snapshot))
    assert unlabelled_times(text) == [], text
    assert "until 08:03 +07 (simulated)" in text and "08:53" not in text


def test_lentera_plan_labels_its_times():
    res = CliRunner().invoke(main, ["plan", "-c", str(EXAMPLE), "--date", "2026-08-17"])
    assert res.exit_code == 0, res.output
    assert unlabelled_times(res.output) == [], res.output


def test_console_pages_label_every_time_and_order_by_one_clock():
    w = words("en")
    real = time.time()
    recent = [{"ts": NOW, "real": real - 30, "device": "L-003", "event": "lampFailure", "alarm": True,
               "fields": {"state": "raised", "score": 0.7734567891234567,
                          "evidence": {"power": 0.0, "expected_power": 47.8123, "switch": 1}}}]
    crew = [{"ts": real - 60, "who": "budi", "action": "off", "target": "L-001", "result": "ok"},
            {"ts": real, "who": "budi", "action": "on", "target": "L-001", "result": "ok"}]
    html = pages.events(w, recent, crew, 25200, warped=True)
    assert unlabelled_times(html) == [], html
    order = [html.index(s) for s in ("budi: switched on", "L-003: lamp failure", "budi: switched off")]
    assert order == sorted(order), html              # newest first, by the machine's clock
    assert "simulated" in html                       # the warped event shows its own time, marked
    rows = [{"id": "L-001", "state": "off", "switch": 0, "dim": None, "power": None, "voltage": None,
             "quality": "good", "age_s": 1, "faults": [], "write_error": None,
             "source": "maintenance", "until": NOW}]
    listing = pages.site_list(w, rows, [], None, 25200)
    assert unlabelled_times(listing) == [] and "+07" in listing


def test_the_demo_board_shows_the_messages_own_time_in_the_site_zone_marked_simulated():
    board = Board("intro", tty=False, width=80)
    board.telemetry("L-001", {"ts": NOW * 1000, "quality": "good", "values": {"switch": 1, "dim": 100}})
    line = _format("city/lighting/gw/events/L-001", {"ts": NOW * 1000, "event": "x"})
    text = "\n".join(board.table()) + "\n" + line
    assert unlabelled_times(text) == [], text
    assert text.count("07:53:20 +07 (simulated)") == 2
