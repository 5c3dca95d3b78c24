"""Complaints matched to faults on the labelled set (bench/complaints_set.py): precision and
recall of `confirmed` (right light) and of every verdict, on a private PostgreSQL + PostGIS.

    .venv/bin/python bench/complaints_match.py [--radius 40]

Faults and readings go in through the ingest's own decoder and writer, as the gateways'
messages would.
"""

import argparse
import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402

from bench.complaints_set import lights_geojson, make_set  # noqa: E402
from agent.fleet import db  # noqa: E402
from agent.fleet.complaints import import_complaints, match, parse_complaints  # noqa: E402
from agent.fleet.decode import decode  # noqa: E402
from agent.fleet.registry import import_lights, lights_from_geojson  # noqa: E402
from agent.fleet.writer import BatchWriter  # noqa: E402


def _messages(data: dict):
    """The gateways' messages that make the set's faults and healthy readings."""
    seq = {}
    for f in data["faults"]:
        light = data["lights"][f["light"]]
        seq[light["gateway"]] = seq.get(light["gateway"], 0) + 1
        body = {"ts": f["raised_ts"], "seq": seq[light["gateway"]], "event": f["kind"],
                "state": "raised", "score": 0.9, "evidence": {"power": 0.3}}
        yield (f"city/lighting/{light['gateway']}/events/{light['device']}", body)
    for h in data["healthy"]:
        light = data["lights"][h["light"]]
        seq[light["gateway"]] = seq.get(light["gateway"], 0) + 1
        body = {"ts": h["ts"], "seq": seq[light["gateway"]], "quality": "good",
                "values": {"lamp_state": 1, "power": 88.0}}
        yield (f"city/lighting/{light['gateway']}/telemetry/{light['device']}", body)


async def load_set(conn: asyncpg.Connection, data: dict) -> None:
    """Registry, faults, readings and complaints of the set into a migrated database."""
    await import_lights(conn, lights_from_geojson(json.dumps(lights_geojson(data["lights"]))))
    records = [decode(topic, json.dumps(body).encode()) for topic, body in _messages(data)]
    await BatchWriter(conn).write(records)
    plain = [{k: v for k, v in c.items() if k != "label"} for c in data["complaints"]]
    await import_complaints(conn, parse_complaints(json.dumps(plain), "json"))


def score(results: list[dict], data: dict) -> dict:
    """Precision/recall of `confirmed` with the right light, and verdict accuracy."""
    label = {c["id"]: c["label"] for c in data["complaints"]}
    got = {r["id"]: r for r in results}
    right_light = {i for i, r in got.items() if (r["gateway_id"], r["device_id"]) ==
                   (label[i]["gateway"], label[i]["device"])}
    said = {i for i, r in got.items() if r["verdict"] == "confirmed"}
    truth = {i for i, lab in label.items() if lab["verdict"] == "confirmed"}
    hits = said & truth & right_light
    verdict_ok = {i for i in label if got.get(i, {}).get("verdict") == label[i]["verdict"]}
    return {"complaints": len(label), "confirmed_precision": len(hits) / max(1, len(said)),
            "confirmed_recall": len(hits) / max(1, len(truth)),
            "verdict_accuracy": len(verdict_ok) / len(label),
            # a verdict about a fine lamp may name its neighbour (35 m spacing, 30 m noise)
            "verdict_and_light_accuracy": len(verdict_ok & right_light) / len(label),
            "wrong": sorted(set(label) - verdict_ok)}


async def evaluate(dsn: str, radius: float, data: dict) -> dict:
    """Load, match, score."""
    conn = await asyncpg.connect(dsn)
    try:
        await db.migrate(conn)
        await load_set(conn, data)
        return score(await match(conn, radius_m=radius), data)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radius", type=float, default=30.0)
    args = parser.parse_args()
    from agent.fleet.localdb import LocalPostgres
    server = LocalPostgres().start()
    try:
        result = asyncio.run(evaluate(server.dsn, args.radius, make_set()))
    finally:
        server.remove()
    wrong = result.pop("wrong")
    print(json.dumps(result), f"wrong: {wrong}")


if __name__ == "__main__":
    main()
