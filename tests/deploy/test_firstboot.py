"""First boot and the bundle/fleet readers without a Debian root: checks, and fuzzing of the
two decoders of outside input (bundle.json from a boot partition, the fleet CSV)."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from agent.provision import firstboot
from agent.provision.bundle import read_bundle
from agent.provision.errors import ProvisionError
from agent.provision.fleet import read_fleet
from tests.support.gateway_files import make_certs

REPO = Path(__file__).resolve().parents[2]


def _bundle(tmp_path: Path) -> Path:
    ca = make_certs(tmp_path / "ca")
    (tmp_path / "fleet.csv").write_text("id,site,lat,lon\ntgr-gw-0200,s,-6,106\n")
    res = subprocess.run([sys.executable, "-m", "agent.cli", "provision", "--fleet",
                          str(tmp_path / "fleet.csv"), "--template",
                          str(REPO / "deploy/raspberrypi/gateway.example.yaml"), "--out",
                          str(tmp_path / "out"), "--ca-cert", ca["ca.crt"], "--ca-key",
                          ca["ca.key"]], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return tmp_path / "out" / "tgr-gw-0200"


def _rehash(folder: Path) -> None:
    index = json.loads((folder / "bundle.json").read_text())
    index["files"] = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest()
                      for n in index["files"]}
    (folder / "bundle.json").write_text(json.dumps(index))


def test_a_consistent_bundle_with_a_bad_config_or_foreign_cert_is_rejected(tmp_path):
    good = _bundle(tmp_path)
    boot, etc, state = tmp_path / "boot", tmp_path / "etc", tmp_path / "state"
    shutil.copytree(good, boot / "lentera")
    cfg = boot / "lentera" / "gateway.yaml"
    cfg.write_text(cfg.read_text().replace("unit: 2,", "unit: 300,"))
    other = make_certs(tmp_path / "other")
    shutil.copy(other["server.crt"], boot / "lentera" / "client.crt")
    _rehash(boot / "lentera")                 # hashes fine: the content itself is wrong
    ok, message = firstboot.run(boot, etc, state)
    assert not ok and "devices[1].unit" in message
    assert not etc.exists(), "nothing may be installed from a bad bundle"
    assert (boot / "lentera.rejected").is_dir() and not (boot / "lentera").exists()
    assert firstboot.read_state(state)["state"] == "rejected"
    shutil.copytree(good, boot / "lentera")
    shutil.copy(other["server.crt"], boot / "lentera" / "client.crt")
    _rehash(boot / "lentera")
    ok, message = firstboot.run(boot, etc, state)
    assert not ok and "client.crt: the key does not belong to the certificate" in message
    assert "not signed by the bundled CA" in message
    shutil.copytree(good, boot / "lentera")
    ok, message = firstboot.run(boot, etc, state)
    assert ok and (etc / "gateway.yaml").read_bytes() == (good / "gateway.yaml").read_bytes()
    assert (etc / "cmd.key").stat().st_mode & 0o777 == 0o640


def test_no_bundle_is_nothing_to_do(tmp_path):
    ok, message = firstboot.run(tmp_path / "boot", tmp_path / "etc", tmp_path / "state")
    assert ok and "nothing to do" in message


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.one_of(st.binary(max_size=300), st.builds(
    lambda d: json.dumps(d).encode(), st.dictionaries(
        st.sampled_from(["format", "gateway", "files", "x"]),
        st.one_of(st.integers(), st.text(max_size=20), st.none(),
                  st.dictionaries(st.text(max_size=12), st.text(max_size=70), max_size=4)),
        max_size=4))))
def test_bundle_reader_raises_only_provision_error(tmp_path, index):
    folder = tmp_path / "b"
    folder.mkdir(exist_ok=True)
    (folder / "bundle.json").write_bytes(index)
    try:
        read_bundle(folder)
    except ProvisionError:
        pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("id,sitelaon\n\"\r x1-.")), max_size=200))
def test_fleet_reader_raises_only_provision_error(tmp_path, text):
    path = tmp_path / "fleet.csv"
    path.write_text(text)
    try:
        rows = read_fleet(path)
    except ProvisionError:
        return
    assert all(r.line >= 2 for r in rows)


def test_a_bundle_naming_other_files_is_rejected(tmp_path):
    good = _bundle(tmp_path)
    boot = tmp_path / "boot"
    shutil.copytree(good, boot / "lentera")
    (boot / "lentera" / "profiles").write_text("x")
    index = json.loads((boot / "lentera" / "bundle.json").read_text())
    index["files"]["profiles"] = hashlib.sha256(b"x").hexdigest()
    (boot / "lentera" / "bundle.json").write_text(json.dumps(index))
    ok, message = firstboot.run(boot, tmp_path / "etc", tmp_path / "state")
    assert not ok and "'profiles': not a bundle file" in message
    assert not (tmp_path / "etc").exists()
