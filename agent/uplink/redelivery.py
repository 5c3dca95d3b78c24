"""Messages the broker took but did not deliver, sent again: the MQTT 5 PUBACK's reason code.

A PUBACK means "the broker has it" only with reason 0 (Success). With reason 16 (0x10, No
matching subscribers) the broker dropped the message because nobody was subscribed: after a
restart mosquitto 2 does not restore the city's `$share` subscriptions, so until an ingest
worker subscribes again every gateway message gets 16 and would be lost (985 of 3,000 in one
run, docs/fleet.md). A failure reason (>= 0x80, e.g. 0x87 Not authorized) means the same.
Such a message is *not delivered*: its outbox row is not acknowledged (it stays in its
publisher's window and in the file, so a restart sends it again too) and it is published
again after a pause that doubles per try, from `low` up to `high`, and starts over when a
re-sent message is delivered. A window full of undelivered messages stops the publisher, as
an outage does: the outbox holds the rest on disk.

Paho numbers messages with mids that wrap at 65,535 without checking which are still in use;
a re-sent message gets a new mid. So the publisher is given ids of our own that are never
reused (`sent()` returns one), and a re-send carries its message's id to the new mid.
"""

import logging

from agent.uplink.backoff import MAX_DOUBLINGS

log = logging.getLogger(__name__)

NO_MATCHING_SUBSCRIBERS = 16


def delivered(reason_code) -> bool:
    """Whether a PUBACK's reason code says the message reached its subscribers."""
    return not reason_code.is_failure and reason_code.value != NO_MATCHING_SUBSCRIBERS


def taken(reason_code) -> bool:
    """Any PUBACK is the broker's answer: what resend_unheard off counts as done."""
    return True


class Redelivery:
    """In-flight messages by paho mid; the undelivered ones parked and re-sent, paced."""

    def __init__(self, loop, send, low: float, high: float, where: str, resend: bool = True):
        self.loop = loop
        self.done = delivered if resend else taken   # which PUBACKs free the row
        self.send = send                     # (topic, payload, qos) -> mid, None if no room
        self.low = low
        self.high = high
        self.where = where                   # the gateway's topic base, for the operator
        self.inflight: dict[int, tuple] = {}     # mid -> (id, topic, payload, qos, tries)
        self.parked: list[tuple] = []
        self.next_id = 0
        self.tries = 0                       # re-send rounds since one was last delivered
        self.timer = None
        self.stopped = False                 # shutting down: park, never re-send
        self.not_delivered = 0               # PUBACKs that said "not delivered", counted
        self._logged: set[int] = set()

    def sent(self, mid: int, topic: str, payload, qos: int) -> int:
        """A message handed to paho: the id under which its delivery is reported."""
        self.next_id += 1
        self.inflight[mid] = (self.next_id, topic, payload, qos, 0)
        return self.next_id

    def puback(self, mid: int, reason_code) -> int | None:
        """The id of the message this PUBACK delivered; None: not one of ours, or parked."""
        entry = self.inflight.pop(mid, None)
        if entry is None:
            return None                      # a status message (not in any outbox)
        if self.done(reason_code):
            if entry[4] and self.tries:
                self.tries = 0               # a re-sent one got through: back to the quick pace
                self._logged.clear()         # and the next episode is logged again
                log.info("messages sent again are being delivered")
            return entry[0]
        self.not_delivered += 1
        self._log(reason_code)
        self.parked.append(entry)
        if self.timer is None and not self.stopped:
            self.timer = self.loop.call_later(self._pause(), self._resend)
        return None

    def _pause(self) -> float:
        # capped exponent: one message refused for ~17 h of 60 s rounds overflowed 2**tries
        return min(self.high, self.low * 2 ** min(self.tries, MAX_DOUBLINGS))

    def _resend(self) -> None:
        self.timer = None
        if self.stopped:
            return
        self.tries += 1
        parked, self.parked = self.parked, []
        for i, (msg_id, topic, payload, qos, tries) in enumerate(parked):
            mid = self.send(topic, payload, qos)
            if mid is None:                  # paho's queue is full: the rest wait a round
                self.parked = parked[i:]
                self.timer = self.loop.call_later(self._pause(), self._resend)
                return
            self.inflight[mid] = (msg_id, topic, payload, qos, tries + 1)

    def _log(self, reason_code) -> None:
        """Once per reason (a city's broker restart gives thousands of them)."""
        if reason_code.value in self._logged:
            return
        self._logged.add(reason_code.value)
        if reason_code.value == NO_MATCHING_SUBSCRIBERS:
            log.warning("the broker had no subscriber for a message (PUBACK reason 16, No "
                        "matching subscribers): it stays in the outbox and is sent again "
                        "every %g-%g s; check that the city's ingest is subscribed to %s/#",
                        self.low, self.high, self.where)
        else:
            log.error("the broker refused a message: %s; it stays in the outbox and is sent "
                      "again every %g-%g s; check the broker's ACL for %s/#", reason_code,
                      self.low, self.high, self.where)

    def cancel(self) -> None:
        """Stop re-sending (the uplink is shutting down); the rows stay in the outbox."""
        self.stopped = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
