"""A saved .npz state read one array at a time, straight into the arrays that keep it.

`np.load` of an .npz is already lazy, but the usual `{k: data[k] for k in data.files}`
reads every array at once, and a restore that then copies them holds the state two or
three times over at start-up (issue 24: ~11 MB of peak for 5 MB of state at 5,000
channels). `NpzArrays` reads an array only when asked, tells its shape and dtype from
the member's header without reading the data, and `read_into` fills a caller's array
from the file with no copy in between. The file format is numpy's own, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
from numpy.lib import format as npy

_CHUNK = 1 << 16        # bytes read at a time into the target (bounds zipfile's own buffer)


class NpzArrays(Mapping):
    """Read-only mapping name -> array over an open `np.load(path)` of an .npz.

    Nothing is cached: `arrays[k]` reads k from the file each time (callers read each
    array once). Use as a context manager, or close(), to close the file.
    """

    def __init__(self, path: str | Path, _npz=None, _prefix: str = "") -> None:
        self.path = Path(path)
        self._npz = np.load(self.path, allow_pickle=False) if _npz is None else _npz
        if not isinstance(self._npz, np.lib.npyio.NpzFile):
            raise ValueError(f"{self.path} is a single .npy array, not an .npz archive")
        self._prefix = _prefix
        self._keys = dict.fromkeys(k[len(_prefix):] for k in self._npz.files
                                   if k.startswith(_prefix))

    def under(self, prefix: str) -> NpzArrays:
        """The arrays named prefix + key, as key (same open file: close this one)."""
        return NpzArrays(self.path, self._npz, self._prefix + prefix)

    def name(self, key: str) -> str:
        """How an error names array `key`: the file and the array's name in it."""
        return f"{self.path}: array {self._prefix + key!r}"

    def __enter__(self) -> NpzArrays:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._npz.close()

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._keys:
            raise KeyError(f"{self.name(key)} is not in the file")
        return self._npz[self._prefix + key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def header(self, key: str) -> tuple[tuple, np.dtype]:
        """(shape, dtype) of array `key`, from its .npy header only."""
        with self._member(key) as fp:
            shape, _, dtype = _read_header(fp)
        return shape, dtype

    def read_into(self, key: str, out: np.ndarray) -> None:
        """Fill `out` with array `key`; its shape must equal the saved one.

        Same dtype and C order (what the agent saves): the bytes go from the file into `out`
        directly. Otherwise the array is read and cast ("same_kind"), one array's worth of
        temporary memory. A member shorter or longer than its header says is an error.
        """
        with self._member(key) as fp:
            shape, fortran, dtype = _read_header(fp)
            if tuple(shape) != out.shape:
                raise ValueError(f"{self.name(key)} has shape {shape}, expected {out.shape}")
            if dtype != out.dtype or fortran or dtype.hasobject or not out.flags.c_contiguous:
                np.copyto(out, self[key], casting="same_kind")
                return
            view = memoryview(out.reshape(-1).view(np.uint8))
            got = 0
            while got < len(view):
                n = fp.readinto(view[got:got + _CHUNK])
                if not n:
                    break
                got += n
            # reading past the end checks the member's CRC (zipfile does at EOF) and that
            # the file holds no more than its header says
            if got != len(view) or fp.read(1):
                raise ValueError(f"{self.name(key)} holds "
                                 f"{'fewer' if got != len(view) else 'more'} bytes than its "
                                 f"header says ({out.nbytes})")

    def _member(self, key: str):
        if key not in self._keys:
            raise KeyError(f"{self.name(key)} is not in the file")
        return self._npz.zip.open(self._prefix + key + ".npy")


def _read_header(fp) -> tuple:
    version = npy.read_magic(fp)
    if version == (1, 0):
        return npy.read_array_header_1_0(fp)
    if version == (2, 0):
        return npy.read_array_header_2_0(fp)
    raise ValueError(f"unsupported .npy format version {version}")


def describe(arrays: Mapping, key: str) -> str:
    """How an error names arrays[key]: with its file when arrays is an NpzArrays."""
    return arrays.name(key) if isinstance(arrays, NpzArrays) else f"array {key!r}"


def array_header(arrays: Mapping, key: str) -> tuple[tuple, np.dtype]:
    """(shape, dtype) of arrays[key] without reading it when arrays is an NpzArrays."""
    if isinstance(arrays, NpzArrays):
        return arrays.header(key)
    value = np.asarray(arrays[key])
    return value.shape, value.dtype


def check_fits(arrays: Mapping, want: dict) -> None:
    """Raise ValueError, naming the array (and file), unless every arrays[k] has the shape and
    a dtype castable ("same_kind") to the dtype of want[k] = (shape, dtype). Reads headers only."""
    for key, (shape, dtype) in want.items():
        got_shape, got_dtype = array_header(arrays, key)
        if tuple(got_shape) != tuple(shape):
            raise ValueError(f"{describe(arrays, key)} has shape {tuple(got_shape)}, expected "
                             f"{tuple(shape)} (another channel count or detector params)")
        if not np.can_cast(got_dtype, dtype, "same_kind"):
            raise ValueError(f"{describe(arrays, key)} holds {got_dtype}, expected "
                             f"{np.dtype(dtype)}")


def copy_into(arrays: Mapping, key: str, out: np.ndarray) -> None:
    """out[...] = arrays[key], straight from the file when arrays is an NpzArrays."""
    if isinstance(arrays, NpzArrays):
        arrays.read_into(key, out)
    else:
        np.copyto(out, np.asarray(arrays[key]), casting="same_kind")
