"""install.sh / uninstall.sh in a real Debian 12 root (debootstrap + chroot), as an installer runs them.

Also the systemd unit against the installed paths, a user profile in /etc/lentera/profiles,
and first boot with a good and a bad bundle. Needs root (skipped with the reason otherwise).
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from drivers.modbus.profile import skeleton
from tests.deploy.debian_root import CHROOT_ENV, DebianRoot
from tests.support.broker import free_port
from tests.support.console import PASSWORD, wait_until
from tests.support.gateway_files import make_certs

REPO = Path(__file__).resolve().parents[2]
PI = REPO / "deploy" / "raspberrypi"
# from the source tree, as an installer may: what install.sh runs must not import from it
INSTALL = "cd /src && bash /src/deploy/raspberrypi/install.sh --wheels /wheels"
# one installed root for the whole module, its tests in order (install, use, uninstall): the
# test command runs --dist loadfile, else a pytest-xdist worker may get the uninstall test with
# a fresh root of its own that no earlier test ever ran the agent in


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = DebianRoot.make(tmp_path_factory.mktemp("debian") / "root")
    res = root.run(INSTALL)
    assert "config check as the service user" in res.stdout, res.stdout
    yield root


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def owner(path: Path, root: DebianRoot) -> str:
    return root.run(f"stat -c '%U:%G %a' {path}").stdout.strip()


def test_install_twice_keeps_config_keys_and_outbox(root):
    cfg, key, outbox = root.p("/etc/lentera/gateway.yaml"), root.p("/etc/lentera/cmd.key"), \
        root.p("/var/lib/lentera/outbox.db")
    with cfg.open("a") as fh:
        fh.write("  key_file: cmd.key     # the installer's own note\n")
    key.write_text(os.urandom(32).hex() + "\n")
    os.chmod(key, 0o600)                    # what the old provision.sh left: root:root 0600
    outbox.write_bytes(b"SQLite format 3\0" + os.urandom(4096))
    before = {p: sha(p) for p in (cfg, key, outbox)}
    res = root.run(INSTALL)
    assert "keeping /etc/lentera/gateway.yaml" in res.stdout, res.stdout
    assert {p: sha(p) for p in (cfg, key, outbox)} == before
    assert owner("/etc/lentera/cmd.key", root) == "root:lentera 640"
    assert owner("/etc/lentera", root) == "root:lentera 750"
    assert owner("/var/lib/lentera/outbox.db", root).startswith("lentera:lentera")
    assert root.run("id -nG lentera").stdout.split() == ["lentera", "dialout"]
    assert root.run("command -v lentera && lentera --version").stdout.splitlines() == [
        "/usr/local/bin/lentera", "lentera, version 0.1.0"]
    assert "OK — gateway tgr-gw-0001" in res.stdout      # check-config as the service user


def test_upgrade_moves_an_old_configs_control_socket_out_of_etc(root):
    cfg = root.p("/etc/lentera/gateway.yaml")
    text = cfg.read_text()
    cfg.write_text(text.replace("control: {socket: /run/lentera/lentera.sock}\n", ""))
    res = root.run(INSTALL)
    assert "moving the control socket to /run/lentera" in res.stdout
    assert cfg.read_text().endswith("control: {socket: /run/lentera/lentera.sock}\n")
    assert "OK — gateway" in res.stdout
    assert "moving the control socket" not in root.run(INSTALL).stdout     # once


def test_service_user_reads_the_key_runs_check_config_and_cannot_change_config(root):
    assert len(root.as_lentera("cat /etc/lentera/cmd.key").stdout.strip()) == 64
    check = root.as_lentera("lentera check-config /etc/lentera/gateway.yaml")
    assert "OK — gateway tgr-gw-0001" in check.stdout
    write = root.as_lentera("sh -c 'echo x >> /etc/lentera/cmd.key'", check=False)
    assert write.returncode != 0 and "Permission denied" in write.stderr
    assert root.as_lentera("touch /var/lib/lentera/probe").returncode == 0


def test_the_service_user_finds_every_module_compiled_for_its_optimize_level(root):
    # the unit runs -OO (PYTHONOPTIMIZE=2) from a venv it cannot write: a module without its
    # .opt-2.pyc is compiled from source at every start, which costs back what -OO saves
    probe = ("import os, sys, agent.cli, agent.app, agent.services.watch, uvloop; "
             "print([m.__name__ for m in list(sys.modules.values()) "
             "if getattr(m, '__cached__', None) and not os.path.exists(m.__cached__)])")
    res = root.as_lentera(f'env PYTHONOPTIMIZE=2 /opt/lentera/venv/bin/python -c "{probe}"')
    assert res.stdout.strip() == "[]", res.stdout


def test_unit_verifies_against_the_installed_paths_and_scores_ok(root):
    unit = root.p("/etc/systemd/system/lentera.service")
    doc = re.search(r"^Documentation=file://(\S+)$", unit.read_text(), re.M).group(1)
    assert root.p(doc).is_file(), f"Documentation= points at {doc}, which is not installed"
    for exe in re.findall(r"^Exec\w+=(\S+)", unit.read_text(), re.M):
        assert os.access(root.p(exe), os.X_OK), exe
    verify = subprocess.run(["systemd-analyze", "verify", f"--root={root.path}",
                             "/etc/systemd/system/lentera.service",
                             "/etc/systemd/system/lentera-firstboot.service"],
                            capture_output=True, text=True)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    score = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                           capture_output=True, text=True)
    level = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", score.stdout).group(1))
    print(f"systemd-analyze security --offline=yes lentera.service: {level}")
    assert level <= 2.0, score.stdout


def test_user_profile_in_etc_is_used_by_the_agent_and_reported(root, site_factory):
    site = site_factory(3)
    shipped = (REPO / "drivers" / "profiles" / "streetlight-generic.yaml").read_text()
    profiles = root.p("/etc/lentera/profiles")
    (profiles / "acme-lamp.yaml").write_text(shipped.replace("model: streetlight-generic",
                                                             "model: acme-lamp"))
    cfg = root.p("/etc/lentera/gateway.yaml")
    text = cfg.read_text()
    # no broker: a closed loopback port (the agent keeps retrying), never the machine's 1883
    cfg.write_text(text.replace("port: 5020", f"port: {site.port}").replace(
        "mqtts://broker.city.example:8883", f"mqtt://127.0.0.1:{free_port()}").replace(
        "  - {id: L-002, bus: lan, unit: 2, profile: streetlight-generic, poll: 10s}\n",
        "  - {id: L-002, bus: lan, unit: 2, profile: streetlight-generic, poll: 10s}\n"
        "  - {id: L-003, bus: lan, unit: 3, profile: acme-lamp, poll: 1s}\n"))
    assert ":1883" not in cfg.read_text() and "broker.city.example" not in cfg.read_text()
    root.run("chown -R root:lentera /etc/lentera && chmod 0640 /etc/lentera/profiles/* "
             "/etc/lentera/gateway.yaml && install -d -o lentera -g lentera /run/lentera")
    listing = root.as_lentera("lentera profiles")
    line = next(x for x in listing.stdout.splitlines() if x.startswith("acme-lamp"))
    assert "/etc/lentera/profiles/acme-lamp.yaml" in line, listing.stdout
    assert "OK — gateway tgr-gw-0001, 2 bus(es), 3 device(s)" in root.as_lentera(
        "lentera check-config /etc/lentera/gateway.yaml").stdout
    run = root.as_lentera("timeout -s TERM 6 lentera run -c /etc/lentera/gateway.yaml",
                          check=False)
    assert "running: 3 device(s)" in run.stderr, run.stderr
    assert "acme-lamp" not in run.stderr and "L-003" not in run.stderr, run.stderr
    assert "stopped" in run.stderr, run.stderr
    (profiles / "acme-bad.yaml").write_text("model: acme-bad\npoints:\n"
                                            "  - {name: a, table: coils, address: 0, type: int16}\n")
    root.run("chmod 0640 /etc/lentera/profiles/acme-bad.yaml && "
             "chgrp lentera /etc/lentera/profiles/acme-bad.yaml")
    broken = root.as_lentera("lentera profiles", check=False)
    assert broken.returncode == 2 and "BROKEN" in broken.stdout
    assert "/etc/lentera/profiles/acme-bad.yaml: points[0].table:" in broken.stdout
    check = root.as_lentera("lentera profiles check /etc/lentera/profiles/acme-bad.yaml",
                            check=False)
    assert check.returncode == 2 and "points[0].table:" in check.stderr \
        and "(acme-bad.yaml line 3)" in check.stderr
    (profiles / "acme-bad.yaml").unlink()


def _agent_as_service(root: DebianRoot) -> subprocess.Popen:
    """`lentera run` as lentera.service runs it: its user, groups and umask, in its state dir."""
    root.run("install -d -o lentera -g lentera -m 0750 /run/lentera")
    script = ("umask 0077 && cd /var/lib/lentera && exec setpriv --reuid lentera --regid lentera "
              "--init-groups lentera run -c /etc/lentera/gateway.yaml")
    return subprocess.Popen(["chroot", str(root.path), "/bin/sh", "-c", script], env=CHROOT_ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _console_switches(url: str, light: str, op: str) -> dict:
    """Log in as budi over HTTP, then switch one light as the console's own page does."""
    http = requests.Session()
    login = http.post(url + "/login", data={"name": "budi", "password": PASSWORD},
                      allow_redirects=False, timeout=10)
    assert login.status_code == 302, f"log-in refused ({login.status_code}): {login.text[-500:]}"
    csrf = re.search(r'<meta name="csrf" content="([^"]+)"', http.get(url + "/", timeout=10).text)
    answer = http.post(url + "/api/action", data={"op": op, "device": light, "hold_s": "600"},
                       headers={"X-CSRF-Token": csrf.group(1)}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_console_works_as_the_service_user_after_sudo_crew_add(root, site_factory):
    """Review finding 5: `sudo lentera crew add` wrote crew.json root:root 0600 (the service
    could not read it, nobody could log in), and the audit log and history defaulted into
    /etc/lentera, which the service cannot write."""
    site = site_factory(2)
    port = free_port()
    text = (PI / "gateway.example.yaml").read_text().replace("port: 5020", f"port: {site.port}")
    text = re.sub(r'url: "mqtts?://[^"]+"', f'url: "mqtt://127.0.0.1:{free_port()}"', text)
    root.p("/etc/lentera/gateway.yaml").write_text(
        text + f'console: {{listen: "127.0.0.1:{port}", relay_min_interval: 1s}}\n')
    root.run("chown root:lentera /etc/lentera/gateway.yaml && chmod 0640 /etc/lentera/gateway.yaml")
    added = root.run(f"echo '{PASSWORD}' | lentera crew add budi -c /etc/lentera/gateway.yaml "
                     "--password-stdin")
    assert "saved in /etc/lentera/crew.json" in added.stdout, added.stdout
    assert owner("/etc/lentera/crew.json", root) == "root:lentera 640"
    agent = _agent_as_service(root)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url, agent), "the console to answer", 60)
        before = site.call(lambda: site.site.light(1).switch)
        result = _console_switches(url, "L-001", "off" if before else "on")
        assert result["applied"], result
        wait_until(lambda: site.call(lambda: site.site.light(1).switch) != before,
                   "the simulator's switch register to change", 20)
    finally:
        agent.terminate()
        output = agent.communicate(timeout=30)[0]
    assert "Permission denied" not in output and "console disabled" not in output, output[-3000:]
    assert owner("/var/lib/lentera/audit.log", root).startswith("lentera:lentera"), output[-3000:]
    assert owner("/var/lib/lentera/history.bin", root).startswith("lentera:lentera")
    assert not root.p("/etc/lentera/audit.log").exists()
    verify = root.run("lentera audit verify -c /etc/lentera/gateway.yaml")
    assert "audit log intact" in verify.stdout, verify.stdout + verify.stderr
    entries = [json.loads(x) for x in root.p("/var/lib/lentera/audit.log").read_text().splitlines()]
    assert any(e.get("who") == "budi" and e.get("lights") == ["L-001"] for e in entries), entries


def _answers(url: str, agent: subprocess.Popen) -> bool:
    assert agent.poll() is None, agent.communicate()[0][-3000:]
    try:
        return requests.get(url + "/login", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _bundles(tmp_path: Path, ids: list[str]) -> Path:
    ca = make_certs(tmp_path / "ca")
    fleet = tmp_path / "fleet.csv"
    fleet.write_text("id,site,lat,lon\n" + "".join(f"{i},pasar baru,-6.17,106.63\n" for i in ids))
    res = subprocess.run([sys.executable, "-m", "agent.cli", "provision", "--fleet", str(fleet),
                          "--template", str(PI / "gateway.example.yaml"), "--out",
                          str(tmp_path / "bundles"), "--ca-cert", ca["ca.crt"], "--ca-key",
                          ca["ca.key"]], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return tmp_path / "bundles"


def test_first_boot_installs_a_good_bundle_and_refuses_a_bad_one(root, tmp_path):
    bundles = _bundles(tmp_path, ["tgr-gw-0101", "tgr-gw-0102"])
    boot = root.p("/boot/firmware")
    boot.mkdir(parents=True, exist_ok=True)
    shutil.copytree(bundles / "tgr-gw-0101", boot / "lentera")
    res = root.run("lentera firstboot")
    assert "installed the bundle for tgr-gw-0101" in res.stdout + res.stderr
    assert not (boot / "lentera").exists(), "the bundle must leave the boot partition"
    for name in ("gateway.yaml", "cmd.key", "client.crt", "client.key", "ca.crt"):
        assert owner(f"/etc/lentera/{name}", root) == "root:lentera 640", name
        assert sha(root.p(f"/etc/lentera/{name}")) == sha(bundles / "tgr-gw-0101" / name)
    assert "OK — gateway tgr-gw-0101" in root.as_lentera(
        "lentera check-config /etc/lentera/gateway.yaml").stdout
    assert "commissioned: gateway tgr-gw-0101" in root.run("lentera status").stdout

    shutil.copytree(bundles / "tgr-gw-0102", boot / "lentera")
    (boot / "lentera" / "cmd.key").write_text("00" * 32 + "\n")       # damaged on the card
    etc_before = {p.name: sha(p) for p in root.p("/etc/lentera").iterdir() if p.is_file()}
    bad = root.run("lentera firstboot", check=False)
    assert bad.returncode == 1 and "cmd.key: content differs from bundle.json" in bad.stderr
    assert {p.name: sha(p) for p in root.p("/etc/lentera").iterdir() if p.is_file()} == etc_before
    assert (boot / "lentera.rejected" / "bundle.json").exists()
    assert "cmd.key: content differs" in (boot / "lentera-REJECTED.txt").read_text()
    status = root.run("lentera status", check=False)
    assert status.returncode == 1 and "NOT commissioned" in status.stderr \
        and "cmd.key: content differs" in status.stderr
    again = root.run("lentera firstboot", check=False)      # next boot, no new bundle
    assert again.returncode == 1 and "the last bundle was rejected" in again.stderr
    unit = root.p("/etc/systemd/system/lentera.service").read_text()
    assert "Requires=lentera-firstboot.service" in unit    # a failed first boot holds the agent
    shutil.rmtree(boot / "lentera.rejected")
    shutil.copytree(bundles / "tgr-gw-0102", boot / "lentera")
    assert "installed the bundle for tgr-gw-0102" in root.run("lentera firstboot").stdout
    assert not (boot / "lentera-REJECTED.txt").exists()


def test_uninstall_keeps_config_and_data_then_purge_removes_them(root):
    res = root.run("bash /src/deploy/raspberrypi/uninstall.sh")
    assert "kept /etc/lentera" in res.stdout
    for gone in ("/opt/lentera", "/usr/local/bin/lentera", "/etc/systemd/system/lentera.service",
                 "/etc/systemd/system/multi-user.target.wants/lentera.service"):
        assert not os.path.lexists(root.p(gone)), gone
    for kept in ("/etc/lentera/gateway.yaml", "/etc/lentera/cmd.key", "/var/lib/lentera/outbox.db"):
        assert root.p(kept).exists(), kept
    assert root.run("id lentera").returncode == 0
    res = root.run("bash /src/deploy/raspberrypi/uninstall.sh --purge")
    assert "with its config, keys, state and user" in res.stdout
    for gone in ("/etc/lentera", "/var/lib/lentera", "/etc/udev/rules.d/99-lentera-rs485.rules"):
        assert not root.p(gone).exists(), gone
    assert root.run("id lentera", check=False).returncode != 0
