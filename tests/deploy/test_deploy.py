"""Field deployment scripts: provisioning a staged gateway, the systemd unit's essentials."""

import subprocess
import sys
from pathlib import Path

from agent.config.loading import load_config

REPO = Path(__file__).resolve().parents[2]
PI = REPO / "deploy" / "raspberrypi"


def test_provision_sets_identity_creates_key_and_config_stays_valid(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "gateway.yaml").write_text((PI / "gateway.example.yaml").read_text())
    lentera = Path(sys.executable).parent / "lentera"
    res = subprocess.run(["bash", str(PI / "provision.sh"), "--id", "tgr-gw-0042", "--site",
                          "karawaci", "--lat", "-6.2", "--lon", "106.6", "--broker",
                          "mqtts://broker.example:8883"], capture_output=True, text=True,
                         env={"ETC": str(etc), "LENTERA": str(lentera), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stdout + res.stderr
    cfg = load_config(etc / "gateway.yaml")
    assert (cfg.gateway.id, cfg.gateway.site) == ("tgr-gw-0042", "karawaci")
    assert cfg.uplink.mqtt.url == "mqtts://broker.example:8883" and cfg.uplink.mqtt.tls
    assert cfg.lighting["schedules"]["evening"]["on"] == "sunset+10min"   # 'on' survived
    key = (etc / "cmd.key").read_text()
    assert len(bytes.fromhex(key)) == 32 and (etc / "cmd.key").stat().st_mode & 0o077 == 0
    assert "fingerprint" in res.stdout and list(etc.glob("gateway.yaml.bak.*"))


def test_provision_refuses_missing_arguments(tmp_path):
    res = subprocess.run(["bash", str(PI / "provision.sh"), "--id", "x"], capture_output=True,
                         text=True, env={"ETC": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 2 and "--site is required" in res.stderr


def test_service_unit_runs_the_agent_and_restarts_it():
    unit = (PI / "lentera.service").read_text()
    assert "ExecStart=/opt/lentera/venv/bin/lentera run -c /etc/lentera/gateway.yaml" in unit
    assert "Restart=always" in unit and "KillSignal=SIGTERM" in unit
    assert "ExecStartPre=/opt/lentera/venv/bin/lentera check-config" in unit
    for script in ("install.sh", "provision.sh"):
        assert subprocess.run(["bash", "-n", str(PI / script)]).returncode == 0
