"""The demo's board: a compact grid redrawn in place on a terminal, snapshots when piped."""

import io

from agent.demo.board import Board


def feed(board):
    board.telemetry("L-001", {"quality": "good", "values": {"switch": 1, "dim": 60,
                                                            "power": 53.2, "faults": 0}})
    board.telemetry("L-002", {"quality": "good", "values": {"switch": 1, "dim": 100,
                                                            "power": 0.3, "faults": 1}})
    board.telemetry("L-003", {"quality": "timeout", "values": {}})
    board.event("L-001", {"event": "output_changed", "source": "maintenance"}, "L-001 EVENT x")


def test_a_terminal_gets_one_screen_redrawn_in_place():
    out = io.StringIO()
    board = Board("intro line", tty=True, out=out, width=80)
    feed(board)
    board.draw()
    board.draw()
    screen = out.getvalue()
    assert screen.count("\x1b[H\x1b[2J") == 2             # cleared and redrawn, never scrolled
    last = screen.split("\x1b[H\x1b[2J")[-1]
    assert "3 lights: 2 on, 0 off, 1 with a fault, 1 without data" in last
    assert "L-001  ON  60%  53W  CREW" in last and "FAULT" in last and "timeout" in last
    assert "L-001 EVENT x" in last and all(len(x) <= 80 for x in last.splitlines())


def test_a_pipe_gets_events_at_once_and_a_table_now_and_then():
    out = io.StringIO()
    board = Board("intro", tty=False, out=out)
    feed(board)
    board.draw()
    board.draw()                                          # too soon for another table
    text = out.getvalue()
    assert "\x1b[" not in text and text.count("3 lights:") == 1 and "L-001 EVENT x" in text
