"""A broker that keeps sessions across restarts, and a subscriber with a persistent session.

Together they let a test stop the broker and still see every message published
after it comes back, whoever reconnects first (the agent or the test).
"""

from tests.support.broker import Broker
from tests.support.subscriber import Subscriber


def persistent_broker(port: int | None = None) -> Broker:
    """A mosquitto that saves sessions and queued messages when stopped (no queue limit)."""
    broker = Broker(port)
    broker.dir.chmod(0o777)     # mosquitto started as root saves as user mosquitto
    broker.conf.write_text(broker.conf.read_text() + (
        f"persistence true\npersistence_location {broker.dir}/\n"
        "max_queued_messages 0\nmax_inflight_messages 100\n"))
    return broker


class DurableSubscriber(Subscriber):
    """Subscriber with clean_session=False: the broker queues for it while it is away."""

    def __init__(self, port: int, topic: str = "#", client_id: str = "lentera-test-durable"):
        super().__init__(port, topic, client_id=client_id, clean_session=False)
