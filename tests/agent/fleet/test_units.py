"""deploy/fleet/: the systemd units pass `systemd-analyze verify` in a root of their own, and
their command lines, run as systemd would expand them, migrate a fresh database and ingest
until SIGTERM."""

import asyncio
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import asyncpg
import pytest

from tests.agent.fleet.conftest import GatewayPublisher, query, register

REPO = Path(__file__).resolve().parents[3]
UNITS = REPO / "deploy" / "fleet"
NAMES = ["lentera-fleet-ingest@.service", "lentera-fleet-migrate.service",
         "lentera-fleet-retention.service", "lentera-fleet-retention.timer",
         "lentera-fleet-serve.service"]
INSTALLED = "/opt/lentera/venv/bin/lentera-fleet"


def test_the_units_verify_and_are_confined(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    root = tmp_path / "root"
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for name in NAMES:
        shutil.copy(UNITS / name, units / name)
    exe = root / INSTALLED.lstrip("/")
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (root / "opt/lentera/share/doc").mkdir(parents=True)
    shutil.copy(REPO / "docs/fleet.md", root / "opt/lentera/share/doc/fleet.md")
    (root / "etc/lentera-fleet").mkdir()
    shutil.copy(UNITS / "fleet.env.example", root / "etc/lentera-fleet/fleet.env")
    verify = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}",
         *(f"/etc/systemd/system/{n.replace('@.', '@a.')}" for n in NAMES)],
        capture_output=True, text=True)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    for name in (NAMES[0], "lentera-fleet-serve.service"):
        score = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                                str(units / name)], capture_output=True, text=True)
        level = float(re.search(r"Overall exposure level for \S+: ([\d.]+)",
                                score.stdout).group(1))
        assert level <= 2.0, (name, score.stdout)


def exec_start(unit: str, env: dict, instance: str = "") -> list[str]:
    """The unit's ExecStart as systemd runs it: ${VAR} from the environment file, %i."""
    line = re.search(r"^ExecStart=(.+)$", (UNITS / unit).read_text(), re.M).group(1)
    line = line.replace("%i", instance).replace(INSTALLED, str(REPO / ".venv/bin/lentera-fleet"))
    return [re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], word) for word in line.split()]


def env_file(**values) -> dict:
    """fleet.env.example with the test's own database and broker."""
    env = {}
    for line in (UNITS / "fleet.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = values.get(key, value)
    return env


def test_the_units_commands_migrate_then_ingest_until_sigterm(postgres, broker):
    async def create():
        admin = await asyncpg.connect(postgres.dsn)
        await admin.execute("CREATE DATABASE fleet_units")
        await admin.close()
    asyncio.run(create())
    env = env_file(LENTERA_FLEET_DB=postgres.dsn_for("fleet_units"),
                   LENTERA_FLEET_BROKER=broker.url)
    run_env = {**os.environ, **env}
    migrate = subprocess.run(exec_start("lentera-fleet-migrate.service", env), env=run_env,
                             capture_output=True, text=True, timeout=60)
    assert migrate.returncode == 0, migrate.stderr
    assert "001_schema.sql" in migrate.stdout and "002_commands.sql" in migrate.stdout
    register(env["LENTERA_FLEET_DB"], ["gw-0"])
    worker = subprocess.Popen(exec_start("lentera-fleet-ingest@.service", env, "a"),
                              env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        pub = GatewayPublisher(broker.port)
        deadline = time.monotonic() + 30
        seq = 0
        while not query(env["LENTERA_FLEET_DB"], "SELECT 1 FROM telemetry"):
            assert time.monotonic() < deadline, "the unit's worker stored nothing"
            seq += 1                        # until the worker has subscribed
            pub.telemetry("gw-0", seq)
            time.sleep(0.2)
        pub.close()
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=30)     # the unit's TimeoutStopSec
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, out
    retention = subprocess.run(exec_start("lentera-fleet-retention.service", env),
                               env=run_env, capture_output=True, text=True, timeout=60)
    assert retention.returncode == 0 and "dropped 0 partition(s)" in retention.stdout, \
        retention.stderr


def test_the_serve_unit_s_command_serves_behind_its_log_in(fleet_dsn, tmp_path):
    import json
    import urllib.error
    import urllib.request

    from agent.fleet.access import AccessFile
    from tests.support.broker import free_port
    access = AccessFile(tmp_path / "access.json")
    token = access.add_token("gis")
    port = free_port()
    env = env_file(LENTERA_FLEET_DB=fleet_dsn, LENTERA_FLEET_LISTEN=f"127.0.0.1:{port}",
                   LENTERA_FLEET_ACCESS=str(access.path))
    server = subprocess.Popen(exec_start("lentera-fleet-serve.service", env),
                              env={**os.environ, **env}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/api/lights.geojson"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                urllib.request.urlopen(url, timeout=5)
                raise AssertionError("answered without a token")
            except urllib.error.HTTPError as exc:
                assert exc.code == 401
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        asked = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(asked, timeout=10) as answer:
            assert json.loads(answer.read())["type"] == "FeatureCollection"
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=10)              # the unit's TimeoutStopSec
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0
