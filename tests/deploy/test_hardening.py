"""The unit's MemoryDenyWriteExecute=yes holds for the real agent (numpy, uvloop, pydantic, ...).

systemd enforces it with a seccomp filter; the kernel's own PR_SET_MDWE (Linux 6.3+) refuses
the same writable+executable mappings, so the agent runs under it here, polls a simulated site
and reports READY and watchdog pings over a fake notify socket.
"""

import asyncio
import os
import re
import pwd
import shutil
import signal
import tempfile
import subprocess
import sys

import pytest

from pathlib import Path

from tests.deploy.test_watchdog import FakeSystemd
from tests.support.broker import free_port
from tests.support.gateway_files import write_gateway

REPO = Path(__file__).resolve().parents[2]
NOBODY = pwd.getpwnam("nobody").pw_uid
LAUNCH = r"""
import ctypes, mmap, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:          # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit("MDWE unavailable")
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("MDWE not enforced")
except OSError:
    print("mdwe active", flush=True)
from agent.cli import main
sys.argv = ["lentera", "run", "-c", sys.argv[1]]
main()
"""


def _mdwe_supported() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import ctypes,sys; "
                            "sys.exit(ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) != 0)"])
    return probe.returncode == 0


def test_agent_runs_with_write_execute_memory_denied(tmp_path, site_factory):
    if not _mdwe_supported():
        pytest.skip(f"kernel {os.uname().release} lacks PR_SET_MDWE (Linux 6.3+)")
    site = site_factory(2)
    cfg = write_gateway(tmp_path / "gateway.yaml", f"mqtt://127.0.0.1:{free_port()}", site.port,
                        2, poll="300ms")
    systemd = FakeSystemd(tmp_path / "notify.sock")
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
           "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, str(cfg)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        async def wait():
            await systemd.next("READY=1", timeout=30)
            await systemd.next("WATCHDOG=1")
        asyncio.run(wait())
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        systemd.close()
    assert "mdwe active" in out, out + err
    assert proc.returncode == 0, err
    assert "uvloop" not in err and "Traceback" not in err, err


def _groups() -> dict:
    """systemd's syscall groups (`systemd-analyze syscall-filter`): name -> members."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True,
                         check=True).stdout
    groups, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.split()[0], set())
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.add(line.split()[0])
    return groups


def _expand(name: str, groups: dict) -> set:
    if not name.startswith("@"):
        return {name}
    return set().union(*(_expand(m, groups) for m in groups.get(name, ())))


def unit_syscall_filter(unit_text: str) -> set:
    """System calls the unit's SystemCallFilter= lines allow, applied in order as systemd does
    (the first line is an allow list; a later ~ line removes from it, a later plain line adds)."""
    groups = _groups()
    allowed: set = set()
    for line in unit_text.splitlines():
        if line.startswith("SystemCallFilter="):
            value = line.split("=", 1)[1]
            names = set().union(*(_expand(n, groups) for n in value.lstrip("~").split()))
            allowed = allowed - names if value.startswith("~") else allowed | names
    return allowed


def test_every_system_call_the_agent_makes_passes_the_units_filter(tmp_path, site_factory):
    """Traced as an unprivileged user (as User=lentera): SQLite, for one, chowns only as root."""
    if shutil.which("strace") is None:
        pytest.fail("strace missing: run deploy/dev/setup.sh (apt-get install strace)")
    if os.geteuid() != 0:
        pytest.skip("needs root: the agent is traced as user nobody through setpriv")
    # the unprivileged agent must be able to read this checkout and its venv; a clone in a
    # private folder (mktemp -d is 0700) is not: say so rather than fail on the folder mode
    probe = subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
                            sys.executable, "-c", "import agent"], cwd=REPO, capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run the agent from {REPO} (a parent folder is not "
                    "world-searchable, e.g. a 0700 mktemp folder): the syscall trace needs a "
                    "checkout other users can read")
    unit = (REPO / "deploy" / "raspberrypi" / "lentera.service").read_text()
    allowed = unit_syscall_filter(unit)
    assert "adjtimex" in allowed                  # the clock-trust read (in @privileged's @clock)
    assert "settimeofday" not in allowed and "mount" not in allowed
    site = site_factory(2)
    work = Path(tempfile.mkdtemp(prefix="lentera-syscalls-"))   # pytest's tmp is root-only
    os.chown(work, NOBODY, -1)
    cfg = write_gateway(work / "gateway.yaml", f"mqtt://127.0.0.1:{free_port()}", site.port,
                        2, poll="300ms", extra=f'metrics: {{listen: "127.0.0.1:{free_port()}"}}\n'
                        "lighting:\n  schedules: {night: {on: sunset, off: sunrise}}\n"
                        "  groups: {all: {devices: [L-001, L-002], schedule: night}}\n")
    systemd = FakeSystemd(work / "notify.sock")
    os.chmod(work / "notify.sock", 0o666)
    env = {**os.environ, "NOTIFY_SOCKET": str(work / "notify.sock"),
           "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    trace = tmp_path / "trace"
    proc = subprocess.Popen(["strace", "-f", "-qq", "-o", str(trace), "-e", "trace=all",
                             "setpriv", "--reuid", "nobody", "--regid", "nogroup",
                             "--clear-groups", sys.executable, "-m", "agent.cli", "run", "-c",
                             str(cfg)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        async def wait():
            await systemd.next("READY=1", timeout=60)
            await systemd.next("WATCHDOG=1")
        asyncio.run(wait())
    finally:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split() \
            if proc.poll() is None else []
        for pid in children:                      # the agent, as systemd would stop it
            os.kill(int(pid), signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        systemd.close()
        shutil.rmtree(work, ignore_errors=True)
    assert proc.returncode == 0, err
    used = set()
    lines = trace.read_text().splitlines()
    # the execve of the agent itself, not setpriv's own (whose arguments name python too)
    start = next(i for i, x in enumerate(lines) if f'execve("{sys.executable}"' in x)
    for line in lines[start:]:                # what setpriv does before is systemd's part
        m = re.match(r"^\d+\s+(?:<\.\.\. )?([a-z_0-9]+)[( ]", line)
        if m and m.group(1) not in ("exited", "killed", "resumed"):
            used.add(m.group(1))
    assert {"openat", "connect", "sendto", "bind"} <= used, sorted(used)
    # mbind: OpenBLAS's NUMA hint; it ignores the EPERM (SystemCallErrorNumber=EPERM), as under
    # Docker's default seccomp profile, which refuses mbind too
    blocked = sorted(s for s in used if s not in allowed and s != "mbind")
    assert not blocked, f"SystemCallFilter= would refuse: {blocked}"
