"""End to end: the lighting schedule switches simulated lights at the computed sunset.

Agent subprocess with a warped lighting clock (starts 90 s before today's sunset in
Tangerang, runs 30x), real simulator, real mosquitto.
"""

import time
from datetime import datetime, timezone

from edge_rules.sunclock import sun_day
from tests.support.gateway_files import write_gateway

PREFIX = "city/lighting/test-gw"
LIGHTING = """\
lighting:
  groups:
    road: {devices: [L-001, L-002, L-003], schedule: evening}
  schedules:
    evening: {on: sunset, off: sunrise}
"""


def test_schedule_switches_lights_on_at_computed_sunset(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    day = datetime.now(timezone.utc)
    sunset = sun_day(-6.178, 106.632, day.year, day.month, day.day).get("sunset")
    start = datetime.fromtimestamp(sunset - 90, timezone.utc).isoformat()
    site = site_factory(3)
    lights = [site.site.light(u) for u in (1, 2, 3)]
    sub = subscriber_factory(broker.port, f"{PREFIX}/events/#")
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 3, extra=LIGHTING)
    warped = agent_factory(config, extra_args=["--time-warp", f"{start},30"])
    # before sunset (daytime) the schedule says off: the lights are switched off
    off = sub.wait_for(lambda m: [p for t, p, _ in m if p.get("event") == "output_changed"
                                  and p["new"]["switch"] is False], 15, "lights off by day")
    deadline = time.monotonic() + 10
    while any(light.switch for light in lights) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(light.switch == 0 for light in lights), warped.output()
    assert off[0]["source"] == "schedule"

    # 90 s of warped time = 3 s real: at sunset the schedule switches them on
    on = sub.wait_for(lambda m: [p for t, p, _ in m if p.get("event") == "output_changed"
                                 and p["new"]["switch"] is True], 15, "lights on at sunset")
    assert on[0]["source"] == "schedule"
    assert sunset * 1000 <= on[0]["ts"] <= (sunset + 5 * 30) * 1000, on[0]["ts"] / 1000 - sunset
    deadline = time.monotonic() + 10
    while not all(light.switch for light in lights) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(light.switch == 1 and light.lit for light in lights), warped.output()
    sub.wait_for(lambda m: {t.rsplit("/", 1)[1] for t, p, _ in m
                            if p.get("event") == "output_changed" and p["new"]["switch"]}
                 >= {"L-001", "L-002", "L-003"}, 10, "an output_changed event per light")


# --- near the date line, and the plan against the agent: whole warped nights ---------------

import json                                                   # noqa: E402
import subprocess                                             # noqa: E402
import sys                                                    # noqa: E402
from pathlib import Path                                      # noqa: E402

import pytest                                                 # noqa: E402
import yaml                                                   # noqa: E402

from agent.config.text import load_yaml                       # noqa: E402
from edge_rules.civil import days_from_civil                  # noqa: E402
from tests.agent.platform.test_sun_every_zone import _night   # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "raspberrypi" / "gateway.example.yaml"
RATE = 600          # a step every 5 warped s, at most 20 a real second: ~30 warped s apart
DUSK_TO_DAWN = """\
lighting:
  groups:
    road: {devices: [L-001, L-002], schedule: night}
  schedules:
    night: {on: sunset, off: sunrise}
"""


def _place(config: Path, lat: float, lon: float, zone: str) -> Path:
    text = config.read_text().replace("lat: -6.178, lon: 106.632", f"lat: {lat}, lon: {lon}")
    config.write_text(text.replace("Asia/Jakarta", zone))
    return config


def _changes(messages, light="L-001"):
    return [p for t, p, _ in messages if t.endswith(f"/events/{light}")
            and p.get("event") == "output_changed"]


@pytest.mark.parametrize("zone,lat,lon", [("Pacific/Apia", -13.833, -171.767),
                                          ("Pacific/Kiritimati", 1.870, -157.400)])
def test_dusk_to_dawn_near_the_date_line_stays_on_across_local_midnight(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory, zone, lat, lon):
    from agent.platform.clock import ZoneOffset
    sunset, sunrise = _night(ZoneOffset(zone), days_from_civil(2026, 12, 24), lat, lon)
    # 20 warped min (2 real s) of day first: the agent's start-up on a loaded CI box took more
    # than the 0.2 real s that 120 warped s gave, and its first step already found night
    start = datetime.fromtimestamp(sunset - 1200, timezone.utc).isoformat()
    site = site_factory(2)
    sub = subscriber_factory(broker.port, f"{PREFIX}/events/#")
    config = _place(write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 2,
                                  extra=DUSK_TO_DAWN), lat, lon, zone)
    agent = agent_factory(config, extra_args=["--time-warp", f"{start},{RATE}"])
    night_real_s = (sunrise - sunset) / RATE
    off_again = sub.wait_for(lambda m: [p for p in _changes(m) if p["new"]["switch"] is False
                                        and p["ts"] > sunset * 1000], night_real_s + 60,
                             "the switch-off at sunrise")
    changes = [p for p in _changes(sub.messages) if p["ts"] <= off_again[0]["ts"]]
    assert changes[0]["new"]["switch"] is False, agent.output()    # by day before sunset
    on = [p for p in changes if p["new"]["switch"] is True]
    lag_on = on[0]["ts"] / 1000 - sunset
    # the core decides on whole seconds (int(clock.wall())), so the step in the second that
    # holds the sunset may switch up to 1 s before the sunset's fraction
    assert -1 < lag_on <= 60, f"switch-on {lag_on:.1f} s after the sunset"
    # nothing switched it off between sunset and sunrise, across local midnight
    assert [p["new"]["switch"] for p in changes[changes.index(on[0]):]] == [True, False], changes
    lag_off = off_again[0]["ts"] / 1000 - sunrise
    assert -1 < lag_off <= 60, f"switch-off {lag_off:.1f} s after the sunrise"   # whole seconds, as above
    assert site.call(lambda: site.site.light(1).switch) == 0
    print(f"{zone}: on {lag_on:.0f} s after sunset, off {lag_off:.0f} s after sunrise")


def test_lentera_plan_for_the_example_config_matches_the_warped_night_event_for_event(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    plan = subprocess.run([sys.executable, "-m", "agent.cli", "plan", "-c", str(EXAMPLE), "--date",
                           "2026-12-24", "--json"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert plan.returncode == 0, plan.stderr
    steps = [json.loads(line) for line in plan.stdout.splitlines()]
    example = yaml.safe_load(EXAMPLE.read_text())
    assert example["gateway"]["location"] == {"lat": -6.178, "lon": 106.632}
    assert example["gateway"]["timezone"] == "Asia/Jakarta"       # as write_gateway's
    start = datetime.fromisoformat("2026-12-24T18:10:00+07:00").timestamp()
    stop = datetime.fromisoformat("2026-12-25T05:40:00+07:00").timestamp()
    site = site_factory(2)
    sub = subscriber_factory(broker.port, f"{PREFIX}/events/#")
    lighting = yaml.safe_dump({"lighting": load_yaml(EXAMPLE.read_text())["lighting"]})  # YAML 1.2 "on"
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 2, extra=lighting)
    agent = agent_factory(config, extra_args=["--time-warp",
                                              f"2026-12-24T18:10:00+07:00,{RATE}"])
    last = [s for s in steps if s["ts"] <= stop][-1]
    sub.wait_for(lambda m: [p for p in _changes(m, last["light"])
                            if p["ts"] >= last["ts"] * 1000], (stop - start) / RATE + 60,
                 "the agent's last step of the night")
    lags, startup = [], []
    for light in ("L-001", "L-002"):
        seen = [(p["new"]["switch"], p["new"]["dim"], p["source"], p["reason"], p["ts"] / 1000)
                for p in _changes(sub.messages, light) if p["ts"] <= stop * 1000]
        mine = [s for s in steps if s["light"] == light]
        at_start = [s for s in mine if s["ts"] <= start][-1]
        planned = [at_start] + [s for s in mine if start < s["ts"] <= stop]
        assert [x[:4] for x in seen] == [(s["switch"], s["dim"], s["source"], s["reason"])
                                         for s in planned], (seen, planned, agent.output()[-3000:])
        # the state at the start comes after the agent's start-up, which the warped clock
        # counts 600x (0.27 real s on a loaded CI box was 161 warped s): it must only come
        # before the night's next step, so that start-up never swallowed one
        startup.append(seen[0][4] - start)
        assert len(planned) < 2 or seen[0][4] < planned[1]["ts"], (seen[0], planned[1])
        lags += [x[4] - s["ts"] for x, s in zip(seen[1:], planned[1:])]
    assert all(0 <= lag <= 120 for lag in lags), lags
    print(f"plan vs agent: {len(lags)} steps, lag of the agent's step max {max(lags):.0f} "
          f"warped s (rate {RATE}); start-up {max(startup):.0f} warped s")


def test_two_overlapping_timed_city_commands_end_at_the_plans_level(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    from agent.uplink.signing import seal
    from tests.support.gateway_files import write_key
    key = write_key(tmp_path / "cmd.key")
    site = site_factory(1)
    sub = subscriber_factory(broker.port, f"{PREFIX}/#")
    lighting = ("commands: {key_file: cmd.key}\n"
                "lighting:\n  groups:\n    road: {devices: [L-001], schedule: night, dimming: d}\n"
                "  schedules:\n    night: {on: sunset, off: sunrise}\n"
                "  dimming:\n    d: [{from: sunset, level: 80}]\n")
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 1, extra=lighting,
                           clock="assume")
    # 20:00 in Tangerang, 4x: the commands' 20 s and 10 s are 5 s and 2.5 s of real time
    agent_factory(config, extra_args=["--time-warp", "2026-12-24T20:00:00+07:00,4"])
    WARP_START_MS = int(datetime.fromisoformat("2026-12-24T20:00:00+07:00").timestamp() * 1000)
    sub.wait_for(lambda m: [p for p in _changes(m) if p["new"]["dim"] == 80], 15, "the plan's 80 %")

    def send(cid, level, duration_s):
        sub.client.publish(f"{PREFIX}/cmd", seal(key, {
            "id": cid, "gateway": "test-gw", "kind": "dim", "target": {"device": "L-001"},
            "level": level, "duration_s": duration_s,
            # the agent judges expiry by its own (warped) clock: 10 warped minutes after the start
            "expires_at": WARP_START_MS + 600_000}), qos=1)
        return sub.wait_for(lambda m: [p for t, p, _ in m if t.endswith("/ack")
                                       and p.get("id") == cid], 10, f"ack of {cid}")[-1]
    ack_a = send("A", 50, 20)
    assert ack_a["result"] == "done", ack_a
    assert send("B", 30, 10)["result"] == "done"       # later, shorter: ends inside A
    back = sub.wait_for(lambda m: [p for p in _changes(m) if p["source"] == "schedule"
                                   and p["reason"].startswith("command expired")], 20,
                        "the plan back after both commands")
    dims = [(p["new"]["dim"], p["source"]) for p in _changes(sub.messages)
            if p["ts"] <= back[0]["ts"]]
    assert dims == [(80, "schedule"), (50, "command"), (30, "command"), (50, "command"),
                    (80, "schedule")], dims
    deadline = time.monotonic() + 5                    # the write follows its event closely
    while site.call(lambda: site.site.light(1).dim) != 80 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert site.call(lambda: site.site.light(1).dim) == 80
