"""A real agent killed (SIGKILL) under a crew hold keeps the light held after it restarts, until
the hold ends; then the light goes back to its schedule (review finding 3)."""

import time

from tests.support.console import lentera, wait_until, write_console_gateway

HOLD_S = 40


def test_a_hold_survives_sigkill_and_ends_on_time(tmp_path, broker, site_factory, agent_factory):
    """Before: holds lived only in memory; the restarted agent wrote the schedule back at
    once (seen failing on the old code)."""
    site = site_factory(1)
    config, _ = write_console_gateway(tmp_path / "gw.yaml", broker.url, site.port, 1)
    agent = agent_factory(config)
    agent.wait_logged("running:", 40)
    light = lambda: site.call(lambda: site.site.light(1).switch)     # noqa: E731
    wait_until(lambda: light() in (0, 1), "the schedule's first write", 20)
    scheduled = light()
    held = 1 - scheduled
    done = lentera("override", "-c", str(config), "--device", "L-001",
                   "--switch", "on" if held else "off", "--for", f"{HOLD_S}s")
    assert done.returncode == 0, done.stdout + done.stderr
    set_at = time.monotonic()
    wait_until(lambda: light() == held, "the hold switched the light", 20)
    wait_until(lambda: (tmp_path / "holds.json").exists(), "the hold saved", 10)
    agent.kill()                                             # power cut, OOM, crash
    again = agent_factory(config)
    again.wait_logged("re-armed", 40)
    while time.monotonic() - set_at < HOLD_S - 5:              # many lighting steps
        assert light() == held, "the restarted agent handed the held light back early"
        time.sleep(0.5)
    wait_until(lambda: light() == scheduled, "the light back on its schedule after the hold",
               HOLD_S + 30)
    assert time.monotonic() - set_at >= HOLD_S - 2
