"""The private broker's temporary folder goes with it (issue 22: dozens of lentera-broker-*
folders were left in the temp dir by the tests and the demo)."""

import gc
import subprocess
import sys

from agent.demo.broker import Broker


def test_a_broker_folder_is_removed_when_the_broker_is_gone_and_at_exit():
    broker = Broker().start()
    folder = broker.dir
    broker.stop()
    broker.start()                                  # restartable: stop() keeps the folder
    assert (folder / "mosquitto.conf").exists()
    broker.stop()
    del broker
    gc.collect()
    assert not folder.exists()
    left = subprocess.run([sys.executable, "-c", "from agent.demo.broker import Broker; "
                           "b = Broker().start(); print(b.dir); b.stop()"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert left.startswith("/") and not __import__("os").path.exists(left), left
