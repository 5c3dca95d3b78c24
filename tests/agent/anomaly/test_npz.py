"""NpzArrays: a saved .npz read one array at a time, straight into the caller's arrays."""

import zipfile
from pathlib import Path

import numpy as np
import pytest

from agent.anomaly import AnomalyDetector
from agent.anomaly.npz import NpzArrays
from tests.support.npz_files import corrupt_member

FIXTURE = Path(__file__).parents[1] / "services" / "data" / "state_fec761f.npz"


def test_every_array_reads_as_np_load_reads_it():
    with np.load(FIXTURE) as ref, NpzArrays(FIXTURE) as arrays:
        assert list(arrays) == ref.files and len(arrays) == len(ref.files)
        for key in ref.files:
            want = ref[key]
            assert arrays.header(key) == (want.shape, want.dtype), key
            assert np.array_equal(arrays[key], want, equal_nan=want.dtype.kind == "f"), key
            if want.dtype.kind != "U":
                out = np.empty_like(want)
                arrays.read_into(key, out)
                assert out.dtype == want.dtype, key
                assert np.array_equal(out, want, equal_nan=want.dtype.kind == "f"), key


def test_under_a_prefix_names_the_array_by_its_name_in_the_file():
    with NpzArrays(FIXTURE) as arrays:
        generic = arrays.under("generic/")
        assert "season" in generic and "lights/mem/lit" not in generic
        assert generic.header("season")[0] == (24, 12)
        with pytest.raises(ValueError, match=r"state_fec761f.npz: array 'generic/season' has "
                                             r"shape \(24, 12\), expected \(24, 13\)"):
            generic.read_into("season", np.empty((24, 13), np.float32))
        with pytest.raises(KeyError, match="generic/nothing"):
            generic["nothing"]


def test_another_dtype_is_cast_and_a_string_is_refused_before_anything_is_copied(tmp_path):
    path = tmp_path / "s.npz"
    det = AnomalyDetector(3)
    det.update_many(np.arange(30.0).reshape(10, 3), 0.0, step=60.0)
    saved = {k: v for k, v in det.state.items()}
    np.savez(path, **{**saved, "level": saved["level"].astype(np.float64)})
    other = AnomalyDetector(3)
    with NpzArrays(path) as arrays:
        other.restore(arrays)
    for k, v in saved.items():
        assert other.state[k].dtype == v.dtype and np.array_equal(other.state[k], v,
                                                                  equal_nan=True), k
    np.savez(path, **{**saved, "week": np.full(saved["week"].shape, "x")})
    before = {k: v.copy() for k, v in other.state.items()}
    with NpzArrays(path) as arrays, pytest.raises(ValueError, match=r"array 'week' holds <U1"):
        other.restore(arrays)
    assert all(np.array_equal(other.state[k], v, equal_nan=True) for k, v in before.items())


def test_a_shape_that_does_not_fit_changes_nothing():
    det = AnomalyDetector(12)
    det.update_many(np.ones((5, 12)), 0.0, step=60.0)
    before = {k: v.copy() for k, v in det.state.items()}
    with NpzArrays(FIXTURE) as arrays:
        generic = arrays.under("generic/")
        bad = {**{k: generic[k] for k in generic}, "week": np.zeros((6, 12), np.float32)}
    with pytest.raises(ValueError, match=r"array 'week' has shape \(6, 12\), expected \(7, 12\)"):
        det.restore(bad)
    assert all(np.array_equal(det.state[k], v, equal_nan=True) for k, v in before.items())


def test_a_read_that_fails_half_way_leaves_a_fresh_state(tmp_path):
    # 200 channels: burst_seen's data runs past zipfile's first read, so its bad CRC is
    # found while it is copied, after level, season, ... were restored
    path = tmp_path / "s.npz"
    saved = AnomalyDetector(200)
    saved.update_many(np.random.default_rng(0).normal(size=(20, 200)), 0.0, step=60.0)
    np.savez(path, **saved.state)
    corrupt_member(path, "burst_seen")
    det = AnomalyDetector(200)
    det.update_many(np.ones((5, 200)), 0.0, step=60.0)
    with NpzArrays(path) as arrays, pytest.raises(zipfile.BadZipFile, match="CRC"):
        det.restore(arrays)
    fresh = AnomalyDetector(200)
    assert all(np.array_equal(det.state[k], v, equal_nan=True) for k, v in fresh.state.items())


def test_a_member_shorter_than_its_header_says_is_an_error(tmp_path):
    path = tmp_path / "s.npz"
    with zipfile.ZipFile(path, "w") as z:       # a header for 10 floats, data for 9
        with z.open("x.npy", "w") as fp:
            np.lib.format.write_array_header_1_0(fp, {"descr": "<f8", "fortran_order": False,
                                                      "shape": (10,)})
            fp.write(np.zeros(9).tobytes())
    with NpzArrays(path) as arrays, pytest.raises(ValueError, match="fewer bytes"):
        arrays.read_into("x", np.empty(10))
