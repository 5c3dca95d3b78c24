"""A test-side MQTT subscriber that collects messages and lets tests wait on conditions."""

import json
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Subscriber:
    """Subscribes to a topic filter and records (topic, payload, retain) tuples."""

    def __init__(self, port: int, topic: str = "#", client_id: str = "",
                 clean_session: bool = True):
        self.messages: list[tuple[str, dict | str, bool]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        if clean_session:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        else:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                      clean_session=False)
            self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("test subscriber could not subscribe")

    def _on_message(self, client, userdata, msg):
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            payload = msg.payload.decode(errors="replace")
        with self._cond:
            self.messages.append((msg.topic, payload, msg.retain))
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float, what: str = "condition"):
        """Wait until predicate(messages) is truthy; return its value or fail with `what`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate(self.messages)
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}; "
                                         f"{len(self.messages)} message(s) seen")
                self._cond.wait(remaining)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()
