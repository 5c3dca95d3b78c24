"""A Sparkplug host peer for the tests: its own decoding, its own checks of every message.

Independent of agent/sparkplug/: it compiles Tahu's proto with protoc into a descriptor set
of its own and builds the Payload class in a private descriptor pool, so a bug in the
adapter's generated module or payload code cannot hide in both. It can act as the primary
host (publishes retained STATE with its will), and records every rule broken by the node:
births before data, seq continuity over NBIRTH/DBIRTH/DDATA/DDEATH, bdSeq of NBIRTH = NDEATH,
aliases unique and known, names only in births, QoS 0 and no retain, no data while offline.
"""

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from paho.mqtt.enums import CallbackAPIVersion

PROTO = Path(__file__).resolve().parents[2] / "agent" / "sparkplug" / "sparkplug_b.proto"


def payload_class():
    """Tahu's Payload, compiled here (protoc) into a private pool."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO.parent}",
                        f"--descriptor_set_out={out}", PROTO.name], check=True)
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload"))


Payload = payload_class()


class HostPeer:
    """Subscribes spBv1.0/#, decodes with its own Payload, checks, and can publish STATE."""

    def __init__(self, port: int, host_id: str | None = "scada", online: bool = True):
        self.host_id = host_id
        self.messages: list[tuple[float, str, object]] = []   # (monotonic, topic, payload)
        self.errors: list[str] = []
        self.online = False
        self.node_born = False
        self.bdseq = None                    # of the current NBIRTH
        self.last_seq = None
        self.aliases: dict[int, str] = {}    # alias -> "device/metric" of the current births
        self.device_aliases: dict[str, set] = {}
        self.devices_born: set = set()
        self.history: set = set()            # (device, reading ts) seen as historical
        self.arrived: dict = {}              # (device, reading ts) -> [(NBIRTH no., historical)]
        self.born_with: set = set()          # (device, reading ts) a DBIRTH's values are of
        self.counts = {k: 0 for k in ("NBIRTH", "NDEATH", "DBIRTH", "DDATA", "DDEATH",
                                      "NDATA", "historical", "while_offline")}
        self._cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"host-{host_id}")
        if host_id:
            self.client.will_set(self.state_topic, self._state(False), qos=1, retain=True)
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.reconnect_delay_set(0.2, 1)
        ready = threading.Event()
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not ready.wait(10):
            raise TimeoutError("host peer could not subscribe")
        if host_id and online:
            self.set_online(True)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        """(Re)connected, e.g. to a restarted broker: subscribe, and say online again if so."""
        client.subscribe("spBv1.0/#", qos=0)
        if self.host_id and self.online:
            client.publish(self.state_topic, self._state(True), qos=1, retain=True)

    @property
    def state_topic(self) -> str:
        return f"spBv1.0/STATE/{self.host_id}"

    @staticmethod
    def _state(online: bool, ts: int | None = None) -> str:
        return json.dumps({"online": online, "timestamp": ts or int(time.time() * 1000)})

    def set_online(self, online: bool, ts: int | None = None) -> None:
        """Publish this host's retained STATE (ts: a forged timestamp)."""
        with self._cond:
            if ts is None:
                self.online = online
        self.client.publish(self.state_topic, self._state(online, ts), qos=1,
                            retain=True).wait_for_publish(5)

    def send(self, topic: str, data: bytes) -> None:
        """An NCMD/DCMD of raw bytes."""
        self.client.publish(topic, data, qos=0).wait_for_publish(5)

    def rebirth_request(self, group: str, node: str) -> None:
        payload = Payload(timestamp=int(time.time() * 1000))
        payload.metrics.add(name="Node Control/Rebirth", datatype=11, boolean_value=True)
        self.send(f"spBv1.0/{group}/NCMD/{node}", payload.SerializeToString())

    def _on_message(self, client, userdata, msg):
        parts = msg.topic.split("/")
        with self._cond:
            if parts[1] == "STATE" or len(parts) < 4 or parts[2] in ("NCMD", "DCMD"):
                self.messages.append((time.monotonic(), msg.topic, msg.payload))
            else:
                try:
                    payload = Payload.FromString(msg.payload)
                except Exception as exc:   # any decoding failure is a finding, not a crash
                    self.errors.append(f"{msg.topic}: undecodable: {exc}")
                    return
                self._check(parts[2], parts[4] if len(parts) > 4 else None, payload, msg)
                self.messages.append((time.monotonic(), msg.topic, payload))
            self._cond.notify_all()

    def _seq(self, kind, payload) -> None:
        if not payload.HasField("seq"):
            self.errors.append(f"{kind} without seq")
        elif self.last_seq is not None and payload.seq != (self.last_seq + 1) % 256:
            self.errors.append(f"{kind} seq {payload.seq} after {self.last_seq}")
        elif payload.seq == 0:
            self.counts["seq_wraps"] = self.counts.get("seq_wraps", 0) + 1
        self.last_seq = payload.seq

    def _check(self, kind, device, payload, msg) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if msg.qos != 0 and kind != "NDEATH" or msg.retain:
            self.errors.append(f"{kind} with QoS {msg.qos} retain {msg.retain}")
        if self.host_id and not self.online and kind != "NDEATH":
            self.counts["while_offline"] += 1
        if kind == "NBIRTH":
            self._nbirth(payload)
        elif kind == "NDEATH":
            bd = [m.long_value for m in payload.metrics if m.name == "bdSeq"]
            if payload.HasField("seq") or len(payload.metrics) != 1 or not bd:
                self.errors.append("NDEATH is not bdSeq alone")
            elif bd[0] == self.bdseq:
                self.node_born = False
            self.last_seq = None
        elif not self.node_born:
            self.errors.append(f"{kind} for {device} before NBIRTH")
        elif kind == "DBIRTH":
            self._seq(kind, payload)
            self._dbirth(device, payload)
        elif kind == "DDATA":
            self._seq(kind, payload)
            self._ddata(device, payload)
        elif kind == "DDEATH":
            self._seq(kind, payload)
            self.devices_born.discard(device)

    def _nbirth(self, payload) -> None:
        self.last_seq = None
        if payload.seq != 0:
            self.errors.append(f"NBIRTH seq {payload.seq}")
        self.last_seq = 0
        names = {m.name: m for m in payload.metrics}
        if "bdSeq" not in names:
            self.errors.append("NBIRTH without bdSeq")
        rebirth = names.get("Node Control/Rebirth")
        if rebirth is None or rebirth.datatype != 11 or rebirth.boolean_value \
                or rebirth.HasField("alias"):
            self.errors.append("NBIRTH's Node Control/Rebirth is not an alias-less false Boolean")
        self.bdseq = names["bdSeq"].long_value if "bdSeq" in names else None
        self.node_born = True
        self.devices_born.clear()
        self.aliases = {m.alias: m.name for m in payload.metrics if m.HasField("alias")}

    def _dbirth(self, device, payload) -> None:
        mine = set()
        for m in payload.metrics:
            if not (m.HasField("name") and m.HasField("alias") and m.HasField("datatype")):
                self.errors.append(f"DBIRTH {device}: metric without name/alias/datatype")
                continue
            owner = self.aliases.get(m.alias)
            if owner is not None and owner != f"{device}/{m.name}":
                self.errors.append(f"alias {m.alias} of {device}/{m.name} is {owner}'s")
            self.aliases[m.alias] = f"{device}/{m.name}"
            mine.add(m.alias)
        self.device_aliases[device] = mine
        self.devices_born.add(device)
        if any(not m.is_null for m in payload.metrics):
            self.born_with.update((device, m.timestamp) for m in payload.metrics)

    def _ddata(self, device, payload) -> None:
        if device not in self.devices_born:
            self.errors.append(f"DDATA for {device} before its DBIRTH")
        for m in payload.metrics:
            if m.HasField("name") or m.alias not in self.device_aliases.get(device, ()):
                self.errors.append(f"DDATA {device}: unknown alias {m.alias} / name {m.name!r}")
            if m.is_historical:
                self.counts["historical"] += 1
                self.history.add((device, m.timestamp))
        for key, historical in {(device, m.timestamp): m.is_historical
                                for m in payload.metrics}.items():
            self.arrived.setdefault(key, []).append((self.counts["NBIRTH"], historical))

    def readings(self, device: str) -> set:
        """The reading timestamps of device that reached this host (DDATA or a DBIRTH's values)."""
        return {ts for d, ts in (*self.arrived, *self.born_with) if d == device}

    def wait_for(self, predicate, timeout: float, what: str):
        """Wait until predicate(self) is truthy (checked on every message)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (result := predicate(self)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}; "
                                         f"counts {self.counts}, errors {self.errors[:5]}")
                self._cond.wait(min(remaining, 0.5))
            return result

    def of_kind(self, kind: str) -> list:
        return [(t, p) for _, t, p in self.messages if f"/{kind}/" in t]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
