"""A labelled set of synthetic citizens' complaints over a synthetic district (fixed seed).

400 lights on 10 streets (35 m apart along a street, streets 150 m apart) near Tangerang,
20 gateways, 30 lights with a fault. 200 complaints: 130 about faulty lights, 35 about
lights that are fine and reported lit since (healthy_since), 35 about lights that are fine
but silent since (send_crew). Positions carry GPS noise of 5-30 m in a random direction;
a fifth of the complaints name the pole id instead of (or as well as) a position.

`python bench/complaints_set.py` writes bench/complaints_set.json; bench/complaints_match.py
and tests/agent/fleet/test_complaints.py load it (or make it with make_set()).
"""

import json
import math
import random
import sys
from pathlib import Path

LAT0, LON0 = -6.1783, 106.6319
M_PER_DEG_LAT = 111_320.0
T0 = 1795881120000                  # epoch ms; faults are raised around here
HOUR = 3_600_000


def offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    """The point east_m/north_m metres from (lat, lon)."""
    return (lat + north_m / M_PER_DEG_LAT,
            lon + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))))


def make_set(seed: int = 21) -> dict:
    """The district, its faults and telemetry, and the labelled complaints."""
    rng = random.Random(seed)
    lights = []
    for street in range(10):
        for k in range(40):
            n = street * 40 + k
            lat, lon = offset(LAT0, LON0, k * 35.0, street * 150.0)
            lights.append({"gateway": f"gw-{n // 20:02d}", "device": f"L-{n % 20:02d}",
                           "pole_id": f"TNG-{n:04d}", "group": f"street-{street}",
                           "office": f"office-{street // 5}", "lat": lat, "lon": lon})
    faulty = rng.sample(range(len(lights)), 30)
    fine = [i for i in range(len(lights)) if i not in set(faulty)]
    rng.shuffle(fine)
    faults = [{"light": i, "kind": rng.choice(["lampFailure", "dayBurning", "cycling"]),
               "raised_ts": T0 + rng.randint(-48, 0) * HOUR} for i in faulty]
    raised = {f["light"]: f["raised_ts"] for f in faults}
    complaints = []

    def complaint(light: int, verdict: str, after_ms: int):
        spot = lights[light]
        distance, bearing = rng.uniform(5, 30), rng.uniform(0, 2 * math.pi)
        lat, lon = offset(spot["lat"], spot["lon"], distance * math.cos(bearing),
                          distance * math.sin(bearing))
        named = rng.random() < 0.2
        with_position = not named or rng.random() < 0.5
        complaints.append({
            "id": f"C-{len(complaints) + 1:04d}", "text": "lampu jalan mati depan no. 12",
            "reported_at": after_ms, "office": spot["office"],
            "lat": lat if with_position else None, "lon": lon if with_position else None,
            "pole_id": spot["pole_id"] if named else None,
            "label": {"verdict": verdict, "gateway": spot["gateway"],
                      "device": spot["device"], "noise_m": round(distance, 1)}})

    for j in range(130):
        light = faulty[j % len(faulty)]
        complaint(light, "confirmed", raised[light] + rng.randint(1, 20) * HOUR)
    for light in fine[:35]:
        complaint(light, "healthy_since", T0 + rng.randint(1, 20) * HOUR)
    for light in fine[35:70]:
        complaint(light, "send_crew", T0 + rng.randint(1, 20) * HOUR)
    healthy = [{"light": i, "ts": c["reported_at"] + 2 * HOUR}
               for i, c in zip(fine[:35], complaints[130:165])]
    return {"lights": lights, "faults": faults, "healthy": healthy, "complaints": complaints}


def lights_geojson(lights: list[dict]) -> dict:
    """The district as the registry's GeoJSON import."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x["lon"], x["lat"]]},
         "properties": {k: x[k] for k in ("gateway", "device", "pole_id", "group", "office")}}
        for x in lights]}


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name(
        "complaints_set.json"))
    out.write_text(json.dumps(make_set(), indent=1))
    print(f"wrote {out}")
