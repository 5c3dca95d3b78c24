"""One northbound interface's end of the outbox (agent/store/outbox.py): its rows and its acks."""

from agent.store.outbox_db import INTERFACES


class OutboxConsumer:
    """One northbound interface's end of the outbox: what is bound for it, and its acks.

    After each commit it hands on every row the commit inserted (so ids stay consecutive and
    a consumer can tell a gap from rows that were not its own): rows bound for other
    interfaces come as `(id, topic, None)`, to be skipped, never sent.

    A consumer that translates the reading rather than publishing the stored JSON (the
    Sparkplug node) sets `on_fresh_items` instead of `on_fresh`: it is handed each row's
    in-memory Item (topic, ts, body as put()), so it need not decode the JSON the commit just
    encoded. Rows read back with `fetch_after` (a backlog, a restart) are JSON as before.
    """

    def __init__(self, outbox, name: str):
        self.outbox = outbox
        self.name = name
        self.bit = INTERFACES[name]
        self._alone = outbox.interfaces == self.bit
        self.on_committed = lambda: None      # the interface's wake-up
        self.on_fresh = lambda rows: None     # rows just committed: [(id, topic, payload|None)]
        self.on_fresh_items = None            # or: [(id, topic, Item|None)], no JSON decode

    def committed(self, rows: list, items: list = ()) -> None:
        """A commit inserted rows (id, topic, payload, interfaces mask), made of items (the
        Item of each row, same order)."""
        bit = self.bit
        if self.on_fresh_items is not None:
            self.on_fresh_items([(row[0], row[1], item if row[3] & bit else None)
                                 for row, item in zip(rows, items)])
        elif self._alone:
            self.on_fresh([(i, topic, payload) for i, topic, payload, _ in rows])
        else:
            self.on_fresh([(i, topic, payload if to & bit else None)
                           for i, topic, payload, to in rows])
        self.on_committed()

    async def fetch_after(self, row_id: int, limit: int) -> list[tuple[int, str, str]]:
        """Committed rows after row_id this interface has still to deliver, oldest first."""
        return await self.outbox.fetch_after(row_id, limit, self.bit)

    def ack(self, row_id: int) -> None:
        """This interface delivered the row: in the next batch, it stops waiting for it."""
        self.outbox._ack(self.bit, row_id)

    def ack_many(self, row_ids: list[int]) -> None:
        """This interface delivered these rows (one call for a confirmed batch)."""
        self.outbox._ack_many(self.bit, row_ids)
