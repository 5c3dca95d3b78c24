"""`lentera plan` on the example config: the installer's "show me tonight", without an agent."""

from pathlib import Path

from click.testing import CliRunner

from agent.cli import main

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "raspberrypi" / "gateway.example.yaml"


def test_plan_prints_each_step_with_who_decides():
    res = CliRunner().invoke(main, ["plan", "-c", str(EXAMPLE), "--date", "2026-12-24"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[1].startswith("night of 2026-12-24 (Thursday)")
    assert "group main-road (L-001, L-002)" in lines[2]
    steps = [ln.split() for ln in lines[3:] if ln.startswith("    ")]
    assert [s[1][:5] for s in steps] == ["12:00", "18:17", "22:00", "04:30", "05:23"]
    assert "calendar city: default evening" in lines[4] and "60% from 22:00" in lines[5]
    assert any(ln.startswith("may take over: rule overheat") for ln in lines)


def test_plan_names_a_calendar_exception_and_refuses_a_bad_date():
    res = CliRunner().invoke(main, ["plan", "-c", str(EXAMPLE), "--date", "2026-08-17"])
    assert res.exit_code == 0 and "exception Independence Day" in res.output
    assert "02:00:00 +07  off" in res.output
    bad = CliRunner().invoke(main, ["plan", "-c", str(EXAMPLE), "--date", "24.12.2026"])
    assert bad.exit_code == 2 and "expected a date like 2026-12-24" in bad.output
