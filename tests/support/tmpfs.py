"""A small tmpfs for full-disk tests (root only; otherwise the test is skipped with the reason)."""
import os
import subprocess

import pytest


def small_tmpfs(tmp_path, size):
    """Mount a tmpfs of `size` (mount's syntax: 64k, 2m) at tmp_path/state, yield it, unmount."""
    if os.geteuid() != 0:
        pytest.skip(f"needs root to mount a {size} tmpfs")
    state = tmp_path / "state"
    state.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(state)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield state
    subprocess.run(["umount", "-l", str(state)], check=False)
