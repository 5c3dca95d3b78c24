"""Field deployment files: the scripts parse, the unit's essentials, the udev rules' shape."""

import ast
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PI = REPO / "deploy" / "raspberrypi"


def test_service_unit_runs_the_agent_watchdogged_and_restarts_it():
    unit = (PI / "lentera.service").read_text()
    assert "ExecStart=/opt/lentera/venv/bin/lentera run -c /etc/lentera/gateway.yaml" in unit
    assert "ExecStartPre=/opt/lentera/venv/bin/lentera check-config" in unit
    for line in ("Type=notify", "WatchdogSec=", "Restart=always", "StartLimitBurst=",
                 "KillSignal=SIGTERM", "RuntimeDirectory=lentera", "StateDirectory=lentera",
                 "CapabilityBoundingSet=\n", "DevicePolicy=closed", "ProtectSystem=strict"):
        assert line in unit, line
    assert "ReadWritePaths=/etc/lentera" not in unit     # config is root's, read-only to us
    example = (PI / "gateway.example.yaml").read_text()
    assert "socket: /run/lentera/lentera.sock" in example   # in RuntimeDirectory=


def test_a_stuck_stop_ends_itself_before_systemd_kills_it():
    # the agent dumps its stacks and exits STUCK_STOP_S after SIGTERM: that must come
    # before systemd's SIGKILL, or the journal never shows where the stop hung
    from agent.cli.service import STUCK_STOP_S
    unit = (PI / "lentera.service").read_text()
    stop_timeout = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))
    assert 5 < STUCK_STOP_S < stop_timeout


def test_the_product_runs_under_python_oo_as_the_unit_starts_it():
    # the unit sets PYTHONOPTIMIZE=2 (docstrings cost ~3 MB of RSS): -OO strips docstrings and
    # asserts, so no product module may read one or rely on the other
    unit = (PI / "lentera.service").read_text()
    assert "Environment=PYTHONOPTIMIZE=2" in unit
    found = []
    for path in sorted(p for top in ("agent", "drivers", "edge_rules")
                       for p in (REPO / top).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assert) or (isinstance(node, ast.Attribute)
                                                 and node.attr == "__doc__"):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not found, f"gone under python -OO (the unit's PYTHONOPTIMIZE=2): {found}"


def test_scripts_parse():
    for script in ("install.sh", "uninstall.sh", "customize-image.sh"):
        assert subprocess.run(["bash", "-n", str(PI / script)]).returncode == 0, script


def test_udev_rules_are_comments_or_well_formed_rules():
    for line in (PI / "99-lentera-rs485.rules").read_text().splitlines():
        body = line.lstrip("# ").strip()
        if body.startswith("SUBSYSTEM=="):
            assert re.fullmatch(r'(\w+(\{\w+\})?(==|\+=|=)"[^"]*"(, )?)+', body), line
            assert 'SYMLINK+="ttyRS485-' in body


def test_ports_rule_lines_pin_by_serial_else_by_socket():
    from drivers.serial.ports import Adapter, id_path
    ftdi = Adapter("/dev/ttyUSB0", "/dev/serial/by-id/usb-FTDI_FT232R_A10K1234-if00-port0",
                   "/dev/serial/by-path/platform-xhci-hcd.0-usb-0:1.3:1.0-port0", 0x0403,
                   0x6001, "A10K1234", "FTDI", "FT232R")
    assert ftdi.rule("ttyRS485-1") == (
        'SUBSYSTEM=="tty", ATTRS{idVendor}=="0403", ATTRS{idProduct}=="6001", '
        'ATTRS{serial}=="A10K1234", SYMLINK+="ttyRS485-1", GROUP="dialout", MODE="0660"')
    ch340 = Adapter("/dev/ttyUSB1", None,
                    "/dev/serial/by-path/platform-xhci-hcd.0-usb-0:1.4:1.0-port0",
                    0x1a86, 0x7523, None, None, None)
    assert 'ENV{ID_PATH}=="platform-xhci-hcd.0-usb-0:1.4:1.0"' in ch340.rule("ttyRS485-2")
    assert id_path("platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.3:1.0-port0") == \
        "platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.3:1.0"


def test_lentera_ports_lists_what_pyserial_finds():
    import sys
    res = subprocess.run([sys.executable, "-m", "agent.cli", "ports"], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(("/dev/", "no serial adapters found")), res.stdout
