"""Sparkplug B payloads (chapter 6) built and read with Tahu's generated classes.

Pure functions of their arguments: no clock, no I/O. Metric datatypes come from the device
profiles (drivers/modbus/profile.py): a point with a scale is a Double, an unscaled one keeps
its register type. Aliases are unique across the whole edge node [tck-id-payloads-alias-uniqueness]
and stable while the config is: node metrics first, then each device's points in config order.
"""

from google.protobuf.message import DecodeError

from agent.sparkplug import sparkplug_b_pb2 as pb
from drivers.errors import ConfigError, LenteraError

REBIRTH = "Node Control/Rebirth"
REBOOT = "Node Control/Reboot"
BDSEQ = "bdSeq"
NODE_METRICS = ((BDSEQ, pb.Int64), (REBIRTH, pb.Boolean), (REBOOT, pb.Boolean))
MAX_INCOMING = 64 * 1024     # bytes of an NCMD/DCMD read at most: a command is a few metrics
MAX_METRICS = 64             # metrics in one command

REGISTER_TYPES = {"int16": pb.Int16, "uint16": pb.UInt16, "int32": pb.Int32,
                  "uint32": pb.UInt32, "float32": pb.Float}
INT_TYPES = {pb.Int8, pb.Int16, pb.Int32, pb.UInt8, pb.UInt16, pb.UInt32}
LONG_TYPES = {pb.Int64, pb.UInt64, pb.DateTime}


class PayloadError(LenteraError, ValueError):
    """Bytes from the broker that are not a usable Sparkplug command (counted, then dropped)."""


def point_datatype(point) -> int:
    """The Sparkplug datatype of a profile point."""
    if point.scale != 1:
        return pb.Double
    return REGISTER_TYPES[point.type]


class DeviceMetrics:
    """One device's metrics: name -> (alias, datatype, point)."""

    def __init__(self, device_id: str, points, first_alias: int):
        self.device_id = device_id
        names = [n.lower() for n in (*(m for m, _ in NODE_METRICS), *(p.name for p in points))]
        if len(set(names)) < len(names):   # [tck-id-case-sensitivity-metric-names]
            twice = sorted({n for n in names if names.count(n) > 1})
            raise ConfigError(f"device {device_id}", f"its profile has metric names equal but "
                              f"for case ({', '.join(twice)}); a Sparkplug host may take them "
                              "for one metric: rename one in the profile")
        self.metrics = {p.name: (first_alias + i, point_datatype(p), p)
                        for i, p in enumerate(points)}
        self.by_alias = {alias: name for name, (alias, _, _) in self.metrics.items()}
        # name -> (alias, value field, conversion): set_value's choice made once, for DDATA
        self.fields = {name: (alias, *VALUE_FIELDS.get(datatype, STRING_FIELD))
                       for name, (alias, datatype, _) in self.metrics.items()}
        self.next_alias = first_alias + len(self.metrics)


def build_models(devices: dict) -> dict[str, DeviceMetrics]:
    """Device id -> its metrics, aliases after the node's own (devices: id -> ModbusDevice)."""
    models, alias = {}, len(NODE_METRICS)
    for device_id, device in devices.items():
        models[device_id] = model = DeviceMetrics(device_id, device.profile.points, alias)
        alias = model.next_alias
    return models


def _uint32(value) -> int:
    return int(value) & 0xFFFFFFFF       # two's complement in a uint32


def _uint64(value) -> int:
    return int(value) & 0xFFFFFFFFFFFFFFFF


VALUE_FIELDS = {**{t: ("int_value", _uint32) for t in INT_TYPES},
                **{t: ("long_value", _uint64) for t in LONG_TYPES},
                pb.Float: ("float_value", float), pb.Double: ("double_value", float),
                pb.Boolean: ("boolean_value", bool)}
STRING_FIELD = ("string_value", str)     # any other datatype


def set_value(metric, datatype: int, value) -> None:
    """Put value in the field of the oneof the datatype uses; None is is_null (chapter 6)."""
    if value is None:
        metric.is_null = True
        return
    field, convert = VALUE_FIELDS.get(datatype, STRING_FIELD)
    setattr(metric, field, convert(value))


def _properties(metric, point) -> None:
    """Units and engineering range from the profile, as the PropertySet of a birth metric."""
    props = [("engUnit", pb.String, point.unit or None), ("engLow", pb.Double, point.min),
             ("engHigh", pb.Double, point.max), ("writable", pb.Boolean,
                                                  point.access == "rw")]
    for key, datatype, value in props:
        if value is None:
            continue
        metric.properties.keys.append(key)
        prop = metric.properties.values.add(type=datatype)
        if datatype == pb.String:
            prop.string_value = value
        elif datatype == pb.Double:
            prop.double_value = float(value)
        else:
            prop.boolean_value = value


def nbirth(ts_ms: int, bdseq: int) -> bytes:
    """The node's birth: seq 0, bdSeq, the node controls (Rebirth without alias)."""
    payload = pb.Payload(timestamp=ts_ms, seq=0)
    for alias, (name, datatype) in enumerate(NODE_METRICS):
        metric = payload.metrics.add(name=name, timestamp=ts_ms, datatype=datatype)
        if name != REBIRTH:   # [tck-id-operational-behavior-data-commands-rebirth-name-aliases]
            metric.alias = alias
        set_value(metric, datatype, bdseq if name == BDSEQ else False)
    return payload.SerializeToString()


def ndeath(ts_ms: int, bdseq: int) -> bytes:
    """The will: only bdSeq, no seq [tck-id-topics-ndeath-payload] [tck-id-topics-ndeath-seq]."""
    payload = pb.Payload(timestamp=ts_ms)
    payload.metrics.add(name=BDSEQ, datatype=pb.Int64, long_value=bdseq)
    return payload.SerializeToString()


def dbirth(ts_ms: int, seq: int, model: DeviceMetrics, values: dict, value_ts: int) -> bytes:
    """A device's birth: every metric with name, alias, datatype, properties, current value.

    Every metric takes the reading's timestamp (a point the reading lacks is null as of then),
    so the list is in chronological order [tck-id-operational-behavior-data-publish-dbirth-order].
    """
    payload = pb.Payload(timestamp=ts_ms, seq=seq)
    for name, (alias, datatype, point) in model.metrics.items():
        metric = payload.metrics.add(name=name, alias=alias, datatype=datatype,
                                     timestamp=value_ts)
        set_value(metric, datatype, values.get(name))
        _properties(metric, point)
    return payload.SerializeToString()


def ddata(ts_ms: int, seq: int, model: DeviceMetrics, values: dict, value_ts: int,
          historical: bool) -> bytes:
    """Device data by alias only [tck-id-payloads-alias-data-cmd-requirement]."""
    payload = pb.Payload(timestamp=ts_ms, seq=seq)
    add, fields = payload.metrics.add, model.fields
    for name, value in values.items():
        known = fields.get(name)
        if known is None:
            continue                  # not in the profile: never born, never sent
        alias, field, convert = known
        if value is None:
            metric = add(alias=alias, timestamp=value_ts, is_null=True)
        else:
            metric = add(alias=alias, timestamp=value_ts)
            setattr(metric, field, convert(value))
        if historical:
            metric.is_historical = True
    return payload.SerializeToString()


def ddeath(ts_ms: int, seq: int) -> bytes:
    """A device that stopped answering [tck-id-operational-behavior-device-ddeath]."""
    return pb.Payload(timestamp=ts_ms, seq=seq).SerializeToString()


def metric_value(metric):
    """The value a command metric carries (None when it carries none)."""
    field = metric.WhichOneof("value")
    return None if field is None or metric.is_null else getattr(metric, field)


def read_command(data: bytes) -> list[tuple[str | None, int | None, object]]:
    """An NCMD/DCMD payload -> [(name, alias, value)]; PayloadError names what is wrong."""
    if len(data) > MAX_INCOMING:
        raise PayloadError(f"command of {len(data)} bytes (at most {MAX_INCOMING})")
    try:
        payload = pb.Payload.FromString(data)
    except (DecodeError, RuntimeWarning, ValueError) as exc:
        raise PayloadError(f"not a Sparkplug B payload: {exc}") from None
    if not payload.metrics:
        raise PayloadError("command without metrics")
    if len(payload.metrics) > MAX_METRICS:
        raise PayloadError(f"{len(payload.metrics)} metrics in one command "
                           f"(at most {MAX_METRICS})")
    return [(m.name if m.HasField("name") else None, m.alias if m.HasField("alias") else None,
             metric_value(m)) for m in payload.metrics]
