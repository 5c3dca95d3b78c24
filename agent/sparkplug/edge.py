"""The edge node's state between MQTT packets: seq, births, deaths, rows -> DDATA, commands.

No I/O: `publish(topic, payload)` is handed in. The session (agent/sparkplug/node.py) owns the
connection and calls these in order; everything here runs on the asyncio loop.

- seq runs 0..255 and wraps over NBIRTH, DBIRTH, DDATA and DDEATH
  [tck-id-payloads-sequence-num-incrementing]; NBIRTH is always 0 and so restarts it.
- A telemetry row whose reading is older than the current NBIRTH is history: its metrics go
  out with is_historical and their own timestamps, every value; live rows report by exception.
- A live row saying a device did not answer (quality not good) gives DDEATH once; the next
  good reading gives DBIRTH (with that reading as its current values).
"""

import json
import logging

from agent.sparkplug import payloads
from agent.sparkplug.payloads import PayloadError

log = logging.getLogger(__name__)

# a row's body is the outbox's own compact JSON object: raw_decode skips loads()' type checks
# and the two whitespace scans around it (about 1.5 of its 4.3 us per row)
_decode = json.JSONDecoder().raw_decode


class EdgeState:
    """Births, deaths and data of one edge node over its sessions."""

    def __init__(self, topics, models: dict, wall_ms, publish=None):
        self.topics = topics
        self.models = models                 # device id -> DeviceMetrics
        self.wall_ms = wall_ms
        self.publish = publish               # (topic, bytes) -> None; set per session
        self.seq = 0
        self.birth_ms = 0                    # the current NBIRTH's timestamp
        self.born: dict[str, bool] = {}      # device id -> has a DBIRTH this session
        self.last: dict[str, tuple[int, dict]] = {}   # device -> (ts, values) newest reading
        self.sent: dict[str, dict] = {}      # device -> values last reported live
        self.silent: set[str] = set()        # devices whose newest live reading is not good
        self._ddata: dict[str, str] = {}     # device id -> its DDATA topic
        self.counts = {"births": 0, "ddata": 0, "ddeath": 0, "historical": 0,
                       "commands_refused": 0, "rebirth_requests": 0, "writes": 0,
                       "rebirths": 0, "barriers": 0}

    def next_seq(self) -> int:
        seq = self.seq
        self.seq = (seq + 1) % 256
        return seq

    def birth(self, bdseq: int) -> None:
        """NBIRTH (seq 0, same bdSeq as the will) then one DBIRTH per device."""
        now = self.wall_ms()
        self.birth_ms = now
        self.seq = 0
        self.next_seq()                      # NBIRTH takes 0 [tck-id-topics-nbirth-seq-num]
        self.publish(self.topics.nbirth, payloads.nbirth(now, bdseq))
        self.born.clear()
        self.sent.clear()
        for device_id in self.models:
            if device_id not in self.silent:     # it gets its DBIRTH when it answers again
                self._dbirth(device_id, now)
        self.counts["births"] += 1

    def _dbirth(self, device_id: str, now: int) -> None:
        ts, values = self.last.get(device_id, (now, {}))
        self.publish(self.topics.device("DBIRTH", device_id),
                     payloads.dbirth(now, self.next_seq(), self.models[device_id], values, ts))
        self.born[device_id] = True
        self.sent[device_id] = dict(values)

    def row(self, topic: str, body_json: str) -> None:
        """One outbox row bound for Sparkplug, read back from SQLite: translate it (telemetry
        only)."""
        device = self._telemetry_device(topic)
        if device is not None:               # decoded only for a Modbus device's telemetry
            body = _decode(body_json)[0]
            self._reading(*device, int(body["ts"]), body)

    def item(self, topic: str, item) -> None:
        """One just-committed row as its in-memory Item (agent/store/outbox_db.Item): the
        same translation as row() of its stored JSON, without decoding it. The stored body is
        {"ts": item.ts, (seq,) **item.body}, so a "ts" of the body's own wins, as there."""
        device = self._telemetry_device(topic)
        if device is not None:
            self._reading(*device, int(item.body.get("ts", item.ts)), item.body)

    def _telemetry_device(self, topic: str) -> tuple | None:
        """(device id, its metrics) of a telemetry row's topic; None for any other row and
        for a serial sensor (not a Modbus device: docs)."""
        if "/telemetry/" not in topic:
            return None
        device_id = topic.rsplit("/", 1)[1]
        model = self.models.get(device_id)
        return None if model is None else (device_id, model)

    def _reading(self, device_id: str, model, ts: int, body: dict) -> None:
        values, good = body.get("values") or {}, body.get("quality") == "good"
        if ts < self.birth_ms:               # history
            if good:
                self._data(device_id, model, values, ts, True)
            return
        if not good:
            self.silent.add(device_id)
            if self.born.get(device_id):
                self.publish(self.topics.device("DDEATH", device_id),
                             payloads.ddeath(self.wall_ms(), self.next_seq()))
                self.born[device_id] = False
                self.counts["ddeath"] += 1
            return
        self.last[device_id] = (ts, values)
        self.silent.discard(device_id)
        if not self.born.get(device_id):
            self._dbirth(device_id, self.wall_ms())
            return
        previous = self.sent[device_id]
        changed = {k: v for k, v in values.items() if k not in previous or previous[k] != v}
        if changed:
            self._data(device_id, model, changed, ts, False)
            previous.update(changed)

    def _data(self, device_id, model, values: dict, ts: int, historical: bool) -> None:
        topic = self._ddata.get(device_id)
        if topic is None:
            topic = self._ddata[device_id] = self.topics.device("DDATA", device_id)
        self.publish(topic, payloads.ddata(self.wall_ms(), self.next_seq(), model, values, ts,
                                           historical))
        self.counts["ddata"] += 1
        if historical:
            self.counts["historical"] += 1

    def command(self, topic: str, data: bytes):
        """An NCMD or DCMD: 'rebirth', a write (device, switch, dim), or None (refused, logged)."""
        try:
            metrics = payloads.read_command(data)
        except PayloadError as exc:
            self.counts["commands_refused"] += 1
            log.warning("sparkplug: refused a command on %s: %s", topic, exc)
            return None
        if topic != self.topics.ncmd:
            return self._write(topic, metrics)
        for name, alias, value in metrics:
            if name == payloads.REBIRTH and value is True:   # Rebirth has no alias
                self.counts["rebirth_requests"] += 1
                return "rebirth"
            self.counts["commands_refused"] += 1
            log.warning("sparkplug: refused NCMD metric %r: only %s is accepted (%s is off: "
                        "reboot the gateway on site or through systemd)", name or alias,
                        payloads.REBIRTH, payloads.REBOOT)
        return None

    def _refuse(self, topic: str, reason: str) -> None:
        self.counts["commands_refused"] += 1
        log.warning("sparkplug: refused a DCMD on %s: %s", topic, reason)

    def _write(self, topic: str, metrics: list):
        """A DCMD -> (device, switch, dim) for the arbitration; only switch and dim, checked."""
        device_id = topic.rsplit("/", 1)[1]
        model = self.models.get(device_id)
        if model is None or not topic.startswith(self.topics.device("DCMD", "")):
            return self._refuse(topic, "no such device on this node")
        wanted = {}
        for name, alias, value in metrics:
            name = name if name is not None else model.by_alias.get(alias)
            if name == "switch" and isinstance(value, (bool, int)) and int(value) in (0, 1):
                wanted["switch"] = bool(value)
            elif name == "dim" and isinstance(value, int) and not isinstance(value, bool) \
                    and 0 <= value <= 100:
                wanted["dim"] = value
            else:
                return self._refuse(topic, f"only switch (0/1) and dim (0..100) may be written, "
                                    f"not {name or alias!r} = {value!r}")
        return (device_id, wanted.get("switch"), wanted.get("dim"))
