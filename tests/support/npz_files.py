"""Damaged .npz files for the state-file tests."""

import zipfile
from pathlib import Path


def corrupt_member(path: Path, key: str) -> None:
    """Flip one byte in the data of member `key` (past its .npy header): a bad CRC."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(key + ".npy")
    raw = bytearray(path.read_bytes())
    name_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    data = info.header_offset + 30 + name_len + extra_len
    raw[data + info.file_size - 3] ^= 0xFF
    path.write_bytes(bytes(raw))
