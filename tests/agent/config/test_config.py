"""Config validation: golden bad configs name the offending key; good configs load."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config.loading import load_config, parse_config
from agent.config.units import parse_duration
from agent.config.text import ConfigProblems

REPO = Path(__file__).resolve().parents[3]
CASES = sorted(p for p in (REPO / "tests" / "config_cases").iterdir() if p.is_dir())


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO))


def test_there_are_at_least_ten_golden_cases():
    assert len(CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_bad_config_is_rejected_naming_the_key(case):
    with pytest.raises(ConfigProblems) as info:
        load_config(case / "gateway.yaml")
    report = "\n".join(info.value.problems)
    lines = [e.strip() for e in (case / "expected.err").read_text().splitlines() if e.strip()]
    for expected in lines:
        assert expected in report, f"{expected!r} not in:\n{report}"
    # every problem in one run, and nothing else: one expected line per reported problem
    assert len(info.value.problems) == len(lines), report


def test_the_docs_example_output_is_what_check_config_prints():
    case = REPO / "tests" / "config_cases" / "docs_config_example"
    res = subprocess.run([sys.executable, "-m", "agent.cli", "check-config", "gateway.yaml"],
                         capture_output=True, text=True, cwd=case, env=_env())
    doc = (REPO / "docs" / "config.md").read_text()
    block = doc.split("$ lentera check-config gateway.yaml\n", 1)[1].split("```", 1)[0]
    assert res.returncode == 2
    assert res.stdout + res.stderr == block


def test_check_config_cli_exit_codes():
    good = REPO / "deploy" / "raspberrypi" / "gateway.example.yaml"
    ok = subprocess.run([sys.executable, "-m", "agent.cli", "check-config", str(good)],
                        capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = REPO / "tests" / "config_cases" / "several_problems" / "gateway.yaml"
    res = subprocess.run([sys.executable, "-m", "agent.cli", "check-config", str(bad)],
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 2
    assert "devices[1].unit" in res.stderr and "extra: unknown key" in res.stderr


def test_example_config_loads_into_immutable_objects():
    cfg = load_config(REPO / "deploy" / "raspberrypi" / "gateway.example.yaml")
    assert cfg.gateway.id == "tgr-gw-0001"
    assert cfg.devices[0].poll == 10.0
    assert cfg.uplink.mqtt.port == 8883       # a placeholder broker, never the system's 1883
    with pytest.raises(Exception):
        cfg.devices[0].unit = 5


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(Exception, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text,seconds", [("10s", 10), ("2min", 120), ("500ms", 0.5),
                                          ("1h", 3600), (15, 15)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_non_mapping_file():
    with pytest.raises(ConfigProblems, match="must be a mapping"):
        parse_config("- just\n- a list\n")


def _with_rtu_bus(extra: str) -> str:
    text = (REPO / "deploy" / "raspberrypi" / "gateway.example.yaml").read_text()
    return text.replace("    timeout_ms: 300\n", "    timeout_ms: 300\n" + extra, 1)


def test_late_reply_window_reaches_the_rtu_bus():
    from agent.field import build_buses
    cfg = parse_config(_with_rtu_bus("    late_reply_window: 150ms\n"))
    assert build_buses(cfg)["rs485"].late_window_s == 0.15
    default = parse_config(_with_rtu_bus(""))
    assert build_buses(default)["rs485"].late_window_s is None    # sized per request
    with pytest.raises(ConfigProblems, match="late_reply_window"):
        parse_config(_with_rtu_bus("    late_reply_window: 5ms\n"))


def test_console_state_files_sit_next_to_the_outbox_and_accounts_next_to_the_config(tmp_path):
    """Review finding 5: relative audit and history resolved into the config's folder
    (/etc/lentera on a gateway, read-only to the service), so every crew action failed."""
    from tests.support.gateway_files import write_gateway
    (tmp_path / "etc").mkdir()
    config = write_gateway(tmp_path / "etc" / "gateway.yaml", "mqtt://127.0.0.1:1", 5020, 1,
                           extra="outbox: {path: %s}\nconsole: {listen: '127.0.0.1:8080'}\n"
                           % (tmp_path / "state" / "outbox.db"))
    console = load_config(config).console
    assert console.accounts == str(tmp_path / "etc" / "crew.json")
    assert console.audit == str(tmp_path / "state" / "audit.log")
    assert console.history == str(tmp_path / "state" / "history.bin")
