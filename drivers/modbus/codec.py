"""Register codec: raw 16-bit Modbus registers <-> scaled engineering values."""

import math
import struct

# register count and struct format of each register type (big-endian bytes)
TYPE_LAYOUT = {
    "int16": (1, ">h"),
    "uint16": (1, ">H"),
    "int32": (2, ">i"),
    "uint32": (2, ">I"),
    "float32": (2, ">f"),
}


def register_count(type_name: str) -> int:
    """How many 16-bit registers a value of this type occupies."""
    return TYPE_LAYOUT[type_name][0]


def decode(registers: list[int], type_name: str, word_order: str = "big",
           scale: float = 1.0) -> float:
    """Decode registers (high word first unless word_order='little') to a scaled value."""
    count, fmt = TYPE_LAYOUT[type_name]
    words = list(registers[:count])
    if len(words) != count:
        raise ValueError(f"{type_name} needs {count} registers, got {len(words)}")
    if word_order == "little":
        words.reverse()
    raw = struct.unpack(fmt, b"".join(w.to_bytes(2, "big") for w in words))[0]
    if type_name == "float32" and not math.isfinite(raw):
        return raw
    value = raw * scale
    # integer points with unit scale stay integers in JSON
    if scale == 1 and type_name != "float32":
        return int(value)
    return round(value, 6)


def encode(value: float, type_name: str, word_order: str = "big",
           scale: float = 1.0) -> list[int]:
    """Encode a scaled engineering value into registers; ValueError (only) if it cannot be.

    Not a number, NaN, infinity or out of the type's range: each is a ValueError
    saying so (int() of NaN or inf, and struct's OverflowError, never escape).
    """
    count, fmt = TYPE_LAYOUT[type_name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    try:
        raw = value / scale
        if type_name != "float32":
            if not math.isfinite(raw):
                raise ValueError(f"{value} cannot be written to a {type_name} register")
            raw = int(round(raw))
        data = struct.pack(fmt, raw)
    except (struct.error, OverflowError, ZeroDivisionError) as exc:
        raise ValueError(f"{value} does not fit a {type_name} with scale {scale}") from exc
    words = [int.from_bytes(data[i:i + 2], "big") for i in range(0, 2 * count, 2)]
    if word_order == "little":
        words.reverse()
    return words
