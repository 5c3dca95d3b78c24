"""The simulated site speaking Modbus RTU on a timed pty wire, run in a background thread."""

import asyncio
import threading

from drivers.sim.site import SimulatedSite


class RtuSiteThread:
    """SimulatedSite.serve_rtu in its own event-loop thread; `path` is the client end."""

    def __init__(self, path, lights: int, baudrate: int = 9600, parity: str = "N", **kwargs):
        self.site = SimulatedSite(lights, **kwargs)
        self.path = str(path)
        self.baudrate = baudrate
        self.parity = parity
        self.wire = None
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._task = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _on_ready(self, wire):
        self.wire = wire
        self._ready.set()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self._task = self.loop.create_task(self.site.serve_rtu(
            self.path, self.baudrate, self.parity, on_ready=self._on_ready))
        try:
            self.loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass

    def start(self) -> "RtuSiteThread":
        """Start serving; fail clearly if the pty wire does not come up."""
        self.thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("simulated RTU site did not come up within 5 s "
                               "(are pseudo-terminals available, /dev/ptmx?)")
        return self

    def call(self, fn, *args):
        """Run fn(*args) on the simulator's loop thread and return its result."""
        done = threading.Event()
        box = {}

        def _do():
            box["value"] = fn(*args)
            done.set()
        self.loop.call_soon_threadsafe(_do)
        if not done.wait(5):
            raise TimeoutError("simulator thread did not respond")
        return box["value"]

    def stop(self) -> None:
        """Stop serving and close the wire."""
        if self._task is not None:
            self.loop.call_soon_threadsafe(self._task.cancel)
        self.thread.join(5)

