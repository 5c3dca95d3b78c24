"""Fleet provisioning: a CSV and a template in, one checked bundle per gateway out, or nothing."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config.loading import load_config
from agent.provision.bundle import read_bundle
from tests.support.gateway_files import make_certs

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "raspberrypi" / "gateway.example.yaml"
LENTERA = [sys.executable, "-m", "agent.cli"]


def fleet_csv(path: Path, rows: int, bad: dict | None = None) -> Path:
    """rows gateways; bad = {row index: {column: value}} spoils some."""
    lines = ["id,site,lat,lon,timezone,broker"]
    for i in range(rows):
        v = {"id": f"tgr-gw-{i + 1:04d}", "site": f"site {i % 7}", "lat": f"{-6.1 - i / 1000:.4f}",
             "lon": f"{106.6 + i / 1000:.4f}", "timezone": "Asia/Jakarta",
             "broker": "mqtts://broker.city.example:8883"}
        v.update((bad or {}).get(i, {}))
        lines.append(",".join(v[c] for c in ("id", "site", "lat", "lon", "timezone", "broker")))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("ca"))


def provision(tmp_path, fleet, ca, out="bundles"):
    return subprocess.run(LENTERA + ["provision", "--fleet", str(fleet), "--template",
                                     str(TEMPLATE), "--out", str(tmp_path / out), "--ca-cert",
                                     ca["ca.crt"], "--ca-key", ca["ca.key"]],
                          capture_output=True, text=True, cwd=tmp_path)


def test_two_bad_rows_name_row_and_column_and_nothing_is_written(tmp_path, ca):
    fleet = fleet_csv(tmp_path / "fleet.csv", 50, bad={7: {"lat": "123"},
                                                       32: {"id": "Bad_Gateway"}})
    res = provision(tmp_path, fleet, ca)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "fleet.csv row 9 (tgr-gw-0008), column lat: " in res.stderr, res.stderr
    assert "fleet.csv row 34 (Bad_Gateway), column id: 'Bad_Gateway': use lower-case" \
        in res.stderr, res.stderr
    problem_lines = [x for x in res.stderr.splitlines() if "fleet.csv row" in x]
    assert len(problem_lines) == 2, res.stderr
    assert "nothing was written" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.csv"]


def test_duplicate_ids_and_bad_header_are_reported(tmp_path, ca):
    fleet = fleet_csv(tmp_path / "fleet.csv", 5, bad={3: {"id": "tgr-gw-0002"}})
    res = provision(tmp_path, fleet, ca)
    assert res.returncode == 2 and "row 5 (tgr-gw-0002), column id: duplicate id, also on row 3" \
        in res.stderr, res.stderr
    (tmp_path / "h.csv").write_text("id,site,latitude\nx,y,1\n")
    res = provision(tmp_path, tmp_path / "h.csv", ca)
    assert res.returncode == 2
    assert "missing column lat" in res.stderr and "unknown column 'latitude'" in res.stderr


def test_a_duplicate_id_masks_no_other_bad_row(tmp_path, ca):
    """Before: a duplicate id stopped the run while reading the CSV, so the bad lat on row 3
    and the duplicate's own bad lon went unreported until the next run."""
    fleet = fleet_csv(tmp_path / "fleet.csv", 6, bad={1: {"lat": "north"},
                                                      3: {"id": "tgr-gw-0001", "lon": "500"}})
    res = provision(tmp_path, fleet, ca)
    assert res.returncode == 2, res.stdout + res.stderr
    problem_lines = [x for x in res.stderr.splitlines() if "fleet.csv row" in x]
    assert len(problem_lines) == 3, res.stderr
    assert "fleet.csv row 3 (tgr-gw-0002), column lat: " in problem_lines[0], res.stderr
    assert "fleet.csv row 5 (tgr-gw-0001), column id: duplicate id, also on row 2" \
        in problem_lines[1], res.stderr
    assert "fleet.csv row 5 (tgr-gw-0001), column lon: " in problem_lines[2], res.stderr
    assert "nothing was written" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.csv"]


def test_fifty_bundles_pass_check_config_and_their_certificates_verify(tmp_path, ca):
    fleet = fleet_csv(tmp_path / "fleet.csv", 50)
    res = provision(tmp_path, fleet, ca)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "bundles"
    manifest = json.loads((out / "manifest.json").read_text())["gateways"]
    assert [m["id"] for m in manifest] == [f"tgr-gw-{i:04d}" for i in range(1, 51)]
    template_comments = [x.strip() for x in TEMPLATE.read_text().splitlines()
                         if x.strip().startswith("#")]
    keys = set()
    for i, entry in enumerate(manifest):
        folder = out / entry["id"]
        cfg = load_config(folder / "gateway.yaml")            # reads cmd.key too
        assert (cfg.gateway.id, cfg.gateway.timezone) == (entry["id"], "Asia/Jakarta")
        assert cfg.gateway.location.lat == pytest.approx(-6.1 - i / 1000)
        assert cfg.uplink.mqtt.url == "mqtts://broker.city.example:8883"
        assert cfg.uplink.mqtt.tls.cert_file == str(folder / "client.crt")
        assert cfg.lighting["schedules"]["evening"]["on"] == "sunset+10min"
        text = (folder / "gateway.yaml").read_text()
        assert all(c in text for c in template_comments), "a template comment was dropped"
        key = (folder / "cmd.key").read_text().strip()
        assert entry["key_sha256"] == hashlib.sha256(bytes.fromhex(key)).hexdigest()
        keys.add(key)
        assert (folder / "cmd.key").stat().st_mode & 0o077 == 0
        assert (folder / "client.key").stat().st_mode & 0o077 == 0
        assert read_bundle(folder)[0] == entry["id"]
    assert len(keys) == 50, "every gateway has its own key"
    certs = [str(out / m["id"] / "client.crt") for m in manifest]
    verify = subprocess.run(["openssl", "verify", "-purpose", "sslclient", "-CAfile",
                             ca["ca.crt"], *certs], capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stdout.count(": OK") == 50, verify.stdout
    der = subprocess.run(["openssl", "x509", "-in", certs[0], "-outform", "DER"],
                         capture_output=True, check=True).stdout
    assert manifest[0]["cert_sha256"] == hashlib.sha256(der).hexdigest()
    subject = subprocess.run(["openssl", "x509", "-in", certs[0], "-noout", "-subject"],
                             capture_output=True, text=True, check=True).stdout
    assert "CN = tgr-gw-0001" in subject
    check = subprocess.run(LENTERA + ["check-config", str(out / "tgr-gw-0050" / "gateway.yaml")],
                           capture_output=True, text=True)
    assert check.returncode == 0 and "OK — gateway tgr-gw-0050" in check.stdout, check.stderr
    again = provision(tmp_path, fleet, ca)
    assert again.returncode == 2 and "not empty" in again.stderr   # never overwritten


def test_pre_issued_certificates_are_checked_against_their_key(tmp_path, ca):
    (tmp_path / "fleet.csv").write_text(
        "id,site,lat,lon,cert_file,key_file\n"
        f"gw-a,s,1,2,{ca['server.crt']},{ca['server.key']}\n"
        f"gw-b,s,1,2,{ca['server.crt']},{ca['other-ca.key']}\n")
    res = provision(tmp_path, tmp_path / "fleet.csv", ca)
    assert res.returncode == 2
    assert "row 3 (gw-b), column cert_file: the key does not belong to the certificate" \
        in res.stderr, res.stderr
    assert "gw-a" not in res.stderr
