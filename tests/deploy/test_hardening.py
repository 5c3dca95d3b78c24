"""The unit's MemoryDenyWriteExecute=yes holds for the real agent (numpy, uvloop, pydantic, ...).

systemd enforces it with a seccomp filter; the kernel's own PR_SET_MDWE (Linux 6.3+) refuses
the same writable+executable mappings, so the agent runs under it here, polls a simulated site
and reports READY and watchdog pings over a fake notify socket.
"""

import asyncio
import ctypes
import os
import signal
import subprocess
import sys

import pytest

from tests.deploy.test_watchdog import FakeSystemd
from tests.support.broker import free_port
from tests.support.gateway_files import write_gateway

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
