"""First boot: a bundle on the boot partition -> /etc/lentera, checked, with owners and modes.

A good bundle is installed (each file atomically, root:lentera 0640) and then deleted from
the boot partition. A bad one changes nothing in /etc/lentera: it is moved aside as
`lentera.rejected/`, the reason is written next to it (`lentera-REJECTED.txt`, readable
on any laptop) and into the state file, and the run fails, so the agent does not start
half-configured until a good bundle arrives.
"""

import grp
import json
import os
import shutil
import time
from pathlib import Path

from agent.config.keys import load_key
from agent.config.loading import parse_config
from agent.config.text import ConfigProblems
from agent.errors import ConfigError
from agent.provision import pki
from agent.provision.bundle import INDEX, read_bundle
from agent.provision.errors import ProvisionError
from agent.store.statefile import write_atomic

DROP = "lentera"                 # the folder installers copy onto the boot partition
REJECTED = "lentera.rejected"
REASON = "lentera-REJECTED.txt"
STATE = "firstboot.json"


def check_bundle(folder: Path) -> tuple[str, dict[str, bytes]]:
    """Read and check a bundle: hashes, config, key, certificate; ProvisionError says why."""
    gateway_id, files = read_bundle(folder)
    problems = []
    try:
        cfg = parse_config(files["gateway.yaml"].decode("utf-8"), "gateway.yaml", folder)
    except (ConfigProblems, UnicodeDecodeError) as exc:
        raise ProvisionError(str(folder), [f"gateway.yaml: {p}" for p in
                                           getattr(exc, "problems", [str(exc)])]) from None
    if cfg.gateway.id != gateway_id:
        problems.append(f"gateway.yaml is for {cfg.gateway.id!r}, {INDEX} for {gateway_id!r}")
    if cfg.commands.key_file:
        try:
            load_key(str(folder / cfg.commands.key_file))
        except ConfigError as exc:
            problems.append(str(exc))
    if "client.crt" in files:
        problems += [f"client.crt: {p}" for p in pki.check_client(
            files["client.crt"], files.get("client.key", b""), files.get("ca.crt"))]
    if problems:
        raise ProvisionError(str(folder), problems)
    return gateway_id, files


def run(boot: Path, etc: Path, state: Path) -> tuple[bool, str]:
    """Install the dropped bundle if any: (ok, what happened). Safe to run every boot."""
    drop = boot / DROP
    previous = read_state(state)
    if not drop.is_dir():
        if previous.get("state") == "rejected":
            return False, (f"the last bundle was rejected: {previous.get('reason')}; drop a good "
                           f"one in {drop}/ and reboot")
        return True, f"no bundle in {drop}/: nothing to do"
    try:
        gateway_id, files = check_bundle(drop)
    except ProvisionError as exc:
        reason = "; ".join(exc.problems)
        _reject(boot, drop, reason)
        _save_state(state, {"state": "rejected", "reason": reason, "bundle": str(drop)})
        return False, f"bundle rejected, nothing installed: {reason}"
    _save_state(state, {"state": "installing", "gateway": gateway_id})
    try:
        _install(files, etc)
    except OSError as exc:                # disk full, read-only /etc: the bundle stays for a retry
        reason = f"cannot write {etc} ({exc}); the bundle stays in {drop}/ for the next boot"
        _save_state(state, {"state": "failed", "reason": reason, "gateway": gateway_id})
        return False, reason
    shutil.rmtree(drop)                   # last: a cut-off install is redone on the next boot
    (boot / REASON).unlink(missing_ok=True)
    _save_state(state, {"state": "installed", "gateway": gateway_id,
                        "files": sorted(n for n in files if n != INDEX)})
    return True, f"installed the bundle for {gateway_id} into {etc}"


def _install(files: dict[str, bytes], etc: Path) -> None:
    gid = _lentera_gid()
    etc.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(files.items()):
        if name == INDEX:
            continue
        path = etc / name
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if gid is not None:
                os.fchown(fd, 0, gid)
            os.fchmod(fd, 0o640)          # readable by the service, writable by root only
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    dir_fd = os.open(etc, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _lentera_gid() -> int | None:
    if os.geteuid() != 0:
        return None
    try:
        return grp.getgrnam("lentera").gr_gid
    except KeyError:
        return None


def _reject(boot: Path, drop: Path, reason: str) -> None:
    shutil.rmtree(boot / REJECTED, ignore_errors=True)
    os.rename(drop, boot / REJECTED)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    (boot / REASON).write_text(f"Lentera rejected the bundle at {stamp}; nothing was installed.\n"
                               f"Why: {reason}\nFix: provision this gateway again and copy the "
                               f"new bundle to {DROP}/ on this partition.\n")


def read_state(state: Path) -> dict:
    """The last first-boot outcome; {} when none (or the file is unreadable)."""
    try:
        data = json.loads((state / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_state(state: Path, data: dict) -> None:
    state.mkdir(parents=True, exist_ok=True)
    data = {**data, "ts": int(time.time())}
    write_atomic(state / STATE, (json.dumps(data, indent=2) + "\n").encode())
