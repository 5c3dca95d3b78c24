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
