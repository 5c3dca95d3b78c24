"""A real Debian 12 root (debootstrap) to install Lentera into, cached outside the clone.

The first use builds /var/cache/lentera-tests/bookworm-amd64.tar.gz (~45 s, from Debian's
mirror) and a wheelhouse of Lentera's dependencies (keyed by setup.py); later uses only
unpack (~5 s). `deploy/dev/setup.sh --debian-root` builds both ahead of time.
"""

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("LENTERA_TEST_CACHE", "/var/cache/lentera-tests"))
MIRROR = os.environ.get("LENTERA_DEBIAN_MIRROR")     # None: debootstrap's default mirror
# systemd: what a Raspberry Pi OS has (systemctl enable, systemd-analyze verify against the root)
PACKAGES = "python3,python3-venv,ca-certificates,systemd"
CHROOT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "LANG": "C.UTF-8", "HOME": "/root", "PIP_NO_INPUT": "1"}


def skip_unless_root() -> None:
    """Skip (saying why) where a Debian root cannot be made."""
    if os.geteuid() != 0:
        pytest.skip("needs root: debootstrap and chroot (run the suite as root, as CI does)")
    if shutil.which("debootstrap") is None:
        pytest.fail("debootstrap is missing: run deploy/dev/setup.sh (apt-get install debootstrap)")


def _locked(name: str):
    CACHE.mkdir(parents=True, exist_ok=True)
    fh = open(CACHE / f"{name}.lock", "w")
    fcntl.flock(fh, fcntl.LOCK_EX)
    return fh


def root_tarball(arch: str = "amd64") -> Path:
    """The cached debootstrap root as a tarball (built on first use)."""
    tag = hashlib.sha256(PACKAGES.encode()).hexdigest()[:8]
    tarball = CACHE / f"bookworm-{arch}-{tag}.tar.gz"
    with _locked(tarball.name):
        if tarball.exists():
            return tarball
        build = CACHE / f"build-{arch}"
        shutil.rmtree(build, ignore_errors=True)
        res = subprocess.run(["debootstrap", f"--arch={arch}", "--variant=minbase",
                              f"--include={PACKAGES}", "bookworm", str(build),
                              *([MIRROR] if MIRROR else [])],
                             capture_output=True, text=True)
        if res.returncode != 0:
            pytest.fail("debootstrap failed:\n" + res.stdout[-2000:] + res.stderr[-2000:])
        subprocess.run(["tar", "-C", str(build), "-czf", f"{tarball}.tmp", "."], check=True)
        os.replace(f"{tarball}.tmp", tarball)
        shutil.rmtree(build)
    return tarball


def wheelhouse() -> Path:
    """Wheels of Lentera's dependencies for CPython 3.11 (as the root's python3), cached."""
    key = hashlib.sha256((REPO / "setup.py").read_bytes()).hexdigest()[:12]
    folder = CACHE / f"wheels-{key}"
    with _locked(folder.name):
        if not (folder / "complete").exists():
            shutil.rmtree(folder, ignore_errors=True)
            res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(folder),
                                  str(REPO)], capture_output=True, text=True)
            if res.returncode != 0:
                pytest.fail("pip wheel failed:\n" + res.stderr[-3000:])
            for stale in folder.glob("lentera-*.whl"):
                stale.unlink()              # the agent itself is built fresh every run
            (folder / "complete").write_text("")
    return folder


class DebianRoot:
    """An unpacked Debian root with this source tree in /src and wheels in /wheels."""

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def make(cls, path: Path) -> "DebianRoot":
        skip_unless_root()
        tarball, wheels = root_tarball(), wheelhouse()
        path.mkdir(parents=True)
        with tarfile.open(tarball) as tar:
            tar.extractall(path, filter="fully_trusted")
        root = cls(path)
        src = path / "src"
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.split()
        for name in files:
            if (REPO / name).is_file():
                (src / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, src / name)
        shutil.copytree(wheels, path / "wheels")
        # one build at a time: setuptools builds in the checkout's own build/, and two
        # pytest-xdist workers building at once left a wheel without the agent in it
        with _locked("lentera-wheel-build"):
            res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                                  str(path / "wheels"), str(REPO)], capture_output=True,
                                 text=True)
        assert res.returncode == 0, "building the lentera wheel failed:\n" + res.stderr[-3000:]
        return root

    def run(self, script: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a shell script inside the root as root."""
        res = subprocess.run(["chroot", str(self.path), "/bin/sh", "-c", script],
                             capture_output=True, text=True, env=CHROOT_ENV, timeout=300)
        if check and res.returncode != 0:
            raise AssertionError(f"in the Debian root, `{script}` exited {res.returncode}:\n"
                                 f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
        return res

    def as_lentera(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a command as the service user (uid, gid and groups of `lentera`)."""
        return self.run(f"setpriv --reuid lentera --regid lentera --init-groups {command}", check)

    def p(self, path: str) -> Path:
        """A path inside the root."""
        return self.path / path.lstrip("/")
