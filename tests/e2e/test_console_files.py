"""A console file the agent cannot read disables the console, never the lights."""

import pytest

from tests.conftest import AgentProcess
from tests.support.broker import Broker
from tests.support.console import add_crew, lentera, wait_until, write_console_gateway
from tests.support.site import SiteThread


@pytest.mark.parametrize("which, said", [
    ("audit.log", "console disabled, the lights keep running without it"),
    ("history.bin", "console disabled, the lights keep running without it"),
    ("crew.json", "cannot be read"),
])
def test_an_unreadable_console_file_leaves_the_lights_running(tmp_path, which, said):
    """Before: Console() raised IsADirectoryError in the agent's start and the whole agent
    exited (audit, history); an unreadable crew.json killed the console's task."""
    broker = Broker().start()
    site = SiteThread(1).start()
    config, _ = write_console_gateway(tmp_path / "gw.yaml", broker.url, site.port, 1)
    if which != "crew.json":
        add_crew(config, "budi")
    (tmp_path / which).mkdir()       # root reads any file: a directory is unreadable to all
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        wait_until(lambda: said in agent.output() or agent.proc.poll() is not None,
                   "the console's error", 30)
        assert agent.proc.poll() is None, agent.log_tail()
        assert str(tmp_path / which) in agent.output()       # the error names the file
        status = wait_until(lambda: (lambda r: r.returncode == 0 and "L-001" in r.stdout and r)(
            lentera("status", "-c", str(config))), "lentera status", 30)
        assert "sources " in status.stdout
        assert agent.proc.poll() is None
    finally:
        agent.terminate()
        site.stop()
        broker.stop()
