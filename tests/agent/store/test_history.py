"""The plots' history: bounded buckets, per-night energy and burn hours, safe save and load."""

from agent.store.history import History

T0 = 1_796_000_000.0          # some evening; the zone below puts it after local noon


def reading(ts, power, switch=1, dim=100, quality="good", device="L-001"):
    return {"device": device, "ts": int(ts * 1000), "quality": quality,
            "values": {"power": power, "switch": switch, "dim": dim,
                       "lamp_state": 1 if switch and power > 1 else 0}}


def test_a_bucket_holds_the_mean_power_and_the_dim():
    h = History(bucket_s=60)
    for i, p in enumerate((80, 100)):
        h.observe(reading(T0 - T0 % 60 + i, p, dim=60))
    [(start, power, dim)] = h.series("L-001", T0 - 120, T0 + 120)
    assert start == T0 - T0 % 60 and power == 90 and dim == 60


def test_an_unlit_light_plots_dim_zero_and_a_bad_reading_is_not_plotted():
    h = History(bucket_s=1)
    h.observe(reading(T0, 0.3, switch=0, dim=100))
    h.observe(reading(T0 + 1, 90, quality="stale"))
    assert h.series("L-001", T0 - 5, T0 + 5) == [(T0, h.series("L-001", T0, T0)[0][1], 0)]
    assert h.latest["L-001"]["quality"] == "stale"


def test_the_ring_forgets_what_is_older_than_its_window():
    h = History(bucket_s=1, window_s=10)
    for i in range(25):
        h.observe(reading(T0 + i, float(i)))
    kept = h.series("L-001", 0, T0 + 100)
    assert [p for _, p, _ in kept] == [float(i) for i in range(15, 25)]


def test_energy_and_burn_hours_per_night_with_gaps_left_out():
    h = History(bucket_s=60, utcoffset=lambda ts: 7 * 3600)
    for i in range(0, 3601, 60):                       # one hour at 100 W, lit
        h.observe(reading(T0 + i, 100.0))
    h.observe(reading(T0 + 3600 + 3000, 100.0))       # 50 min silence: not integrated
    [(night, wh, burn)] = h.nights("L-001")
    assert wh == 100.0 and burn == 1.0
    assert night == h.night_of(T0)


def test_only_the_last_nights_are_kept():
    h = History(bucket_s=60, nights=3)
    for day in range(6):
        for i in (0, 60):
            h.observe(reading(T0 + day * 86400 + i, 50.0))
    nights = h.nights("L-001")
    assert len(nights) == 3 and nights[-1][0] == h.night_of(T0 + 5 * 86400)


def test_save_and_load_round_trip(tmp_path):
    h = History(bucket_s=1)
    for i in range(5):
        h.observe(reading(T0 + i, 10.0 * i))
    h.save(tmp_path / "h.bin")
    again = History(bucket_s=1)
    assert again.load(tmp_path / "h.bin")
    assert again.series("L-001", T0, T0 + 10) == h.series("L-001", T0, T0 + 10)
    assert again.nights("L-001") == h.nights("L-001")


def test_a_corrupt_or_mismatched_file_is_moved_aside(tmp_path, caplog):
    path = tmp_path / "h.bin"
    for content in (b"\x00garbage", b'{"version": 1, "bucket_s": 60, "slots": 960, '
                                    b'"rings": {"L-1": ["AAAA", "", "", ""]}, "nightly": {}}'):
        path.write_bytes(content)
        h = History(bucket_s=60)
        assert not h.load(path)
        assert not path.exists() and (tmp_path / "h.bin.corrupt").exists()
        assert "moved to" in caplog.text
    History(bucket_s=1).save(path)
    assert not History(bucket_s=60).load(path)         # another bucket size: start empty
