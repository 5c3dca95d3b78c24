"""Bundles: one folder per gateway (config, command key, TLS files, bundle.json with hashes).

Written all or nothing: every bundle is made in memory first, then the whole output goes to a
hidden sibling folder that is renamed into place, so a failure leaves no partial output.
"""

import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path

from agent.provision.errors import ProvisionError

FORMAT = 1
INDEX = "bundle.json"
SECRET = {"cmd.key", "client.key"}
FILES = ("gateway.yaml", "cmd.key", "client.crt", "client.key", "ca.crt")   # all a bundle may hold
MAX_FILE = 256 * 1024
MAX_FILES = 16


def new_key() -> bytes:
    """A fresh 32-byte HMAC command key, as the hex text the agent reads."""
    return (secrets.token_bytes(32).hex() + "\n").encode()


def key_fingerprint(key_file_text: bytes) -> str:
    """sha256 of the raw key bytes (what the city's key registry keeps), hex."""
    return hashlib.sha256(bytes.fromhex(key_file_text.decode().strip())).hexdigest()


def make_bundle(gateway_id: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """files plus their index (bundle.json: gateway id and sha256 of each file)."""
    index = {"format": FORMAT, "gateway": gateway_id,
             "files": {n: hashlib.sha256(d).hexdigest() for n, d in sorted(files.items())}}
    return {**files, INDEX: (json.dumps(index, indent=2) + "\n").encode()}


def write_all(out: Path, bundles: dict[str, dict[str, bytes]], extra: dict[str, bytes]) -> None:
    """out/<id>/<file> for every bundle plus out/<extra file>; all or nothing."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ProvisionError(str(out), ["exists and is not empty: give a new folder (bundles "
                                        "are never overwritten)"])
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(mode=0o700, parents=True)
        for gid, files in bundles.items():
            (tmp / gid).mkdir(mode=0o700)
            for name, data in files.items():
                _write(tmp / gid / name, data, 0o600 if name in SECRET else 0o644)
        for name, data in extra.items():
            _write(tmp / name, data, 0o644)
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ProvisionError(str(out), [f"cannot write the bundles ({exc}); nothing was "
                                        "written"]) from None


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def read_bundle(folder: Path) -> tuple[str, dict[str, bytes]]:
    """(gateway id, files) of a bundle folder, every hash checked; ProvisionError otherwise."""
    source = str(folder)
    try:
        index_raw = (folder / INDEX).read_bytes()[:MAX_FILE]
        index = json.loads(index_raw)
    except OSError as exc:
        raise ProvisionError(source, [f"{INDEX}: cannot read ({exc.strerror}): not a Lentera "
                                      "bundle, or copied incompletely"]) from None
    except ValueError as exc:
        raise ProvisionError(source, [f"{INDEX}: not valid JSON ({exc})"]) from None
    if not isinstance(index, dict) or index.get("format") != FORMAT \
            or not isinstance(index.get("files"), dict) or not isinstance(index.get("gateway"), str):
        raise ProvisionError(source, [f"{INDEX}: not a format-{FORMAT} bundle index"])
    listed = index["files"]
    if len(listed) > MAX_FILES:
        raise ProvisionError(source, [f"{INDEX}: {len(listed)} files (at most {MAX_FILES})"])
    files, problems = {}, []
    for name, digest in sorted(listed.items()):
        if name not in FILES:
            problems.append(f"{name!r}: not a bundle file (a bundle holds {', '.join(FILES)})")
            continue
        try:
            data = (folder / name).read_bytes()[:MAX_FILE + 1]
        except OSError as exc:
            problems.append(f"{name}: missing or unreadable ({exc.strerror})")
            continue
        if len(data) > MAX_FILE or hashlib.sha256(data).hexdigest() != digest:
            problems.append(f"{name}: content differs from {INDEX} (damaged or edited after "
                            "provisioning: provision it again)")
        files[name] = data
    if "gateway.yaml" not in listed:
        problems.append("gateway.yaml: missing from the bundle")
    if problems:
        raise ProvisionError(source, problems)
    return index["gateway"], files
