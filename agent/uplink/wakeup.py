"""paho's wake-up byte, held back during a round of publishes: paho 2.x sends one byte to its
socket pair per publish to wake its network thread (`_packet_queue`; a private attribute,
paho pinned to 2.2.x in setup.py). Holding it during a round and sending one byte after gives one wake-up and
one send per round instead of per message. Used by the JSON uplink (the Sparkplug node hands paho
one run of packets per pass instead: agent/sparkplug/node.py)."""


class _Held:
    """Stands in for `_sockpairW` while held. Never None: paho's own thread also queues packets
    (PUBACKs, pings) and reads the attribute twice (is not None, then .send), so None set
    between the two reads would raise in that thread."""

    @staticmethod
    def send(data) -> int:
        return len(data)

    @staticmethod
    def close() -> None:                     # paho's _reset_sockets, on its thread
        pass


HELD = _Held()


def hold(client):
    """Hold the client's wake-up socket; the socket to release, or None if there is none to
    hold (not started, or already held)."""
    wake = client._sockpairW
    if wake is None or wake is HELD:
        return None
    client._sockpairW = HELD
    return wake


def release(client, wake) -> None:
    """Give the socket back and wake paho's thread once."""
    if wake is None:
        return
    if client._sockpairW is not HELD:        # paho made a new pair meanwhile (a reconnect)
        wake.close()                         # and would have closed this one
        return
    client._sockpairW = wake
    try:
        wake.send(b"\0")
    except OSError:                          # full (the thread is awake anyway) or closed
        pass
