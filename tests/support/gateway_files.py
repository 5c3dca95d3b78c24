"""Gateway configs, command keys and test certificates for the uplink tests."""

import secrets
import subprocess
import textwrap
from pathlib import Path


def write_gateway(path: Path, broker_url: str, site_port: int, lights: int, poll: str = "1s",
                  mqtt: str = "", extra: str = "", gateway_id: str = "test-gw",
                  status_period: str = "30s", clock: str | None = None) -> Path:
    """A gateway.yaml for `lights` simulated controllers; `mqtt` adds keys to uplink.mqtt.

    `clock: assume` trusts the wall clock without NTP (this machine's kernel may not be
    synchronised); city commands that change lights need a trusted clock.
    """
    devices = "\n".join(
        f"  - {{id: L-{u:03d}, bus: lan, unit: {u}, profile: streetlight-generic, poll: {poll}}}"
        for u in range(1, lights + 1))
    path.write_text(textwrap.dedent(f"""\
        gateway: {{id: {gateway_id}, site: test, location: {{lat: -6.178, lon: 106.632}},
                  timezone: Asia/Jakarta{", clock: " + clock if clock else ""}}}
        uplink:
          mqtt: {{url: "{broker_url}", topic_prefix: city/lighting, reconnect_min: 0.5s,
                  reconnect_max: 2s{", " + mqtt if mqtt else ""}}}
          status_period: {status_period}
        buses:
          lan: {{type: modbus-tcp, host: 127.0.0.1, port: {site_port}, timeout_ms: 300}}
        devices:
        """) + devices + "\n" + extra)
    return path


def write_key(path: Path) -> bytes:
    """A fresh 32-byte command key, stored as hex."""
    key = secrets.token_bytes(32)
    path.write_text(key.hex() + "\n")
    return key


def make_certs(folder: Path) -> dict:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost (openssl CLI)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {n: str(folder / n) for n in ("ca.key", "ca.crt", "server.key", "server.csr",
                                          "server.crt", "ext.cnf", "other-ca.key",
                                          "other-ca.crt")}
    Path(files["ext.cnf"]).write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    for name in ("ca", "other-ca"):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            f"/CN=lentera test {name}", "-keyout", files[f"{name}.key"], "-out",
            files[f"{name}.crt"])
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
        files["server.key"], "-out", files["server.csr"])
    run("x509", "-req", "-in", files["server.csr"], "-CA", files["ca.crt"], "-CAkey",
        files["ca.key"], "-CAcreateserial", "-days", "2", "-extfile", files["ext.cnf"],
        "-out", files["server.crt"])
    return files


def make_bad_certs(folder: Path, files: dict) -> dict:
    """Server certificates the agent must refuse: self-signed, expired, for another host.

    Each uses the server key of make_certs(folder); returns {name: certificate path}.
    """
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    bad = {n: str(folder / f"{n}.crt") for n in ("self-signed", "expired", "other-host")}
    run("req", "-x509", "-key", files["server.key"], "-days", "2", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-out", bad["self-signed"])
    other = folder / "other-host.cnf"
    other.write_text("subjectAltName=DNS:broker.other.example\n")
    run("x509", "-req", "-in", files["server.csr"], "-CA", files["ca.crt"], "-CAkey",
        files["ca.key"], "-CAcreateserial", "-days", "2", "-extfile", str(other),
        "-out", bad["other-host"])
    (folder / "index.txt").write_text("")
    (folder / "serial").write_text("1000\n")
    (folder / "ca.cnf").write_text(textwrap.dedent(f"""\
        [ca]
        default_ca = test
        [test]
        database = {folder}/index.txt
        new_certs_dir = {folder}
        serial = {folder}/serial
        default_md = sha256
        policy = anything
        copy_extensions = none
        [anything]
        commonName = supplied
        """))
    run("ca", "-batch", "-config", str(folder / "ca.cnf"), "-cert", files["ca.crt"],
        "-keyfile", files["ca.key"], "-startdate", "20200101000000Z", "-enddate",
        "20200102000000Z", "-extfile", files["ext.cnf"], "-in", files["server.csr"],
        "-out", bad["expired"], "-notext")
    return bad
