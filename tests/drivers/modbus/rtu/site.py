"""The simulated site speaking Modbus RTU on a timed pty wire, run in a background thread."""

import threading

from drivers.sim.site import SimulatedSite
from tests.support.site import LoopThread


class RtuSiteThread(LoopThread):
    """SimulatedSite.serve_rtu in its own event-loop thread; `path` is the client end."""

    def __init__(self, path, lights: int, baudrate: int = 9600, parity: str = "N", **kwargs):
        super().__init__()
        self.site = SimulatedSite(lights, **kwargs)
        self.path = str(path)
        self.baudrate = baudrate
        self.parity = parity
        self.wire = None
        self._ready = threading.Event()

    def _on_ready(self, wire):
        self.wire = wire
        self._ready.set()

    def serve(self):
        return self.site.serve_rtu(self.path, self.baudrate, self.parity,
                                   on_ready=self._on_ready)

    def start(self) -> "RtuSiteThread":
        """Start serving; fail clearly if the pty wire does not come up."""
        self.thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("simulated RTU site did not come up within 5 s "
                               "(are pseudo-terminals available, /dev/ptmx?)")
        return self
