"""Simulated sites in background threads, controllable from tests."""

import asyncio
import threading

from drivers.sim.site import SimulatedSite
from tests.support.broker import free_port, wait_port


class LoopThread:
    """Runs one coroutine (a site's server) in its own event-loop thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._task = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def serve(self):
        """The coroutine to run; subclasses say what they serve."""
        raise NotImplementedError

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self._task = self.loop.create_task(self.serve())
        try:
            self.loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass

    def call(self, fn, *args):
        """Run fn(*args) on the simulator's loop thread (thread-safe control)."""
        done = threading.Event()
        result = {}

        def _do():
            result["value"] = fn(*args)
            done.set()
        self.loop.call_soon_threadsafe(_do)
        if not done.wait(5):
            raise TimeoutError("simulator thread did not respond")
        return result["value"]

    def stop(self) -> None:
        """Stop serving."""
        if self._task is not None:
            self.loop.call_soon_threadsafe(self._task.cancel)
        self.thread.join(5)


class SiteThread(LoopThread):
    """SimulatedSite.serve_tcp on a free loopback port."""

    def __init__(self, lights: int, port: int | None = None, **kwargs):
        super().__init__()
        self.site = SimulatedSite(lights, **kwargs)
        self.port = port or free_port()

    def serve(self):
        return self.site.serve_tcp("127.0.0.1", self.port)

    def start(self) -> "SiteThread":
        """Start serving and wait until the port accepts connections."""
        self.thread.start()
        wait_port(self.port)
        return self
