"""The city's lights grouped on a zoom-dependent grid by PostgreSQL: clusters.geojson.

At the city's zoom the map page would otherwise fetch and group every light itself (20 MB
for 50,000 lights, docs/fleet.md); this answers with one feature per grid cell instead:
the cell's light count, how many of them have an open fault, the worst state and the
count per state, at the centroid of its lights.

Why a grid in Web Mercator (column floor(x / cell), row floor(y / cell) of EPSG:3857's x
and y: ST_SnapToGrid's idea, as integers to group by, with cells starting at grid lines
rather than centred on them) and not ST_ClusterDBSCAN:
- one GROUP BY pass over the lights in the box, no neighbour search;
- the cells are fixed in the world, so a pan does not move a cluster's lights into another
  (DBSCAN's clusters depend on which points the box holds);
- every light is in exactly one cell, so the counts add up to the lights in the box;
- lights along a street 35 m apart chain into one DBSCAN cluster the length of the street
  at any radius over the spacing, while a cell is CELL screen pixels wide whatever the city.
The cell is the page's own: CELL pixels (static/map.js) at the asked zoom, a 256-pixel world
at zoom 0 (the page's projection). A light with no position is in no cell.
"""

from agent.fleet.geo import Query, collection
from agent.fleet.picture import WHERE

CELL = 44                                  # pixels, static/map.js CELL
R = 6_378_137                              # EPSG:3857's sphere, metres
WORLD_M = 40_075_016.685_578_5             # EPSG:3857's width, 2 * pi * R
# worst first, as static/map.js ranks them: a fault kind not named here ranks as "fault"
STATES = ("lampFailure", "dayBurning", "cycling", "fault", "communication", "ok",
          "never_reported")
_OTHER_FAULT, _OK, _NEVER = STATES.index("fault"), STATES.index("ok"), \
    STATES.index("never_reported")
# the names are our constants above, not input: only they are pasted into the SQL
_PER_STATE = ", ".join(f"'{name}', count(*) FILTER (WHERE l.rank = {i})"
                       for i, name in enumerate(STATES))

# $1..$6 as picture.WHERE (box, group, office), $7 the cell in metres, $8/$9 now and the
# communication delay (open_faults), $10 STATES, $11 the zoom (a cluster's id is
# zoom/column/row of its cell, column and row counted from EPSG:3857's origin)
CLUSTERS_SQL = f"""
WITH placed AS (
    SELECT p.lon, p.lat,
           coalesce(f.rank, CASE WHEN p.reading_ts IS NULL THEN {_NEVER} ELSE {_OK} END)
               AS rank
    FROM light_points p
    LEFT JOIN (SELECT gateway_id, device_id,
                      min(coalesce(array_position($10::text[], kind),
                                   {_OTHER_FAULT + 1}) - 1) AS rank
               FROM open_faults($8, $9) GROUP BY 1, 2) f
        ON f.gateway_id = p.gateway_id AND f.device_id = p.device_id
""" + WHERE + f"""  AND p.geom IS NOT NULL
), l AS (
    -- EPSG:3857 by its formulas, x = R lon, y = R ln tan(pi/4 + lat/2) (radians): the very
    -- numbers of ST_Transform(geom, 3857), which cost 77 ms for 50,000 lights and made the
    -- planner's estimate so high that JIT compiling took 640 ms (bench/fleet_picture.py).
    -- Latitudes are clamped to +-85 as the page does: Mercator has no y for the poles, and
    -- one misplaced light must not fail the whole map's query.
    SELECT lon, lat, rank, floor(radians(lon) * {R} / $7)::bigint AS col,
           floor(ln(tan(pi() / 4 + radians(greatest(-85, least(85, lat))) / 2)) * {R} / $7
                 )::bigint AS row
    FROM placed
)
SELECT json_build_object('type', 'Feature', 'id', $11::int || '/' || l.col || '/' || l.row,
    -- the centroid of the cell's lights (the mean of their points, as ST_Centroid of them)
    'geometry', ST_AsGeoJSON(ST_MakePoint(avg(l.lon), avg(l.lat)), 7)::json,
    'properties', json_build_object(
        'count', count(*), 'faults', count(*) FILTER (WHERE l.rank < {_OK}),
        'worst', ($10::text[])[min(l.rank) + 1],
        'states', json_build_object({_PER_STATE})))::text,
    min(l.lon), min(l.lat), max(l.lon), max(l.lat)
FROM l GROUP BY l.col, l.row ORDER BY l.row DESC, l.col
"""


def cell_metres(zoom: int) -> float:
    """The grid's cell at `zoom`, in EPSG:3857 metres (true size at the equator)."""
    return CELL * WORLD_M / 256 / 2 ** zoom


async def clusters(conn, q: Query, now, comm_after) -> str:
    """clusters.geojson (its text) over an asyncpg connection: the lights of the
    box/group/office per grid cell at q.zoom; the collection's `bbox` (RFC 7946 section 5)
    is the extent of those lights."""
    box = list(q.bbox) if q.bbox else [None] * 4
    async with conn.transaction():
        # JIT never pays here: one pass over the lights, while compiling this query took
        # 640 ms when the planner's estimate crossed jit_above_cost (the lights run 150 ms).
        # No nested loops: ST_Intersects on geom::geometry has no statistics, so a view's
        # 38,304 lights were estimated as 4 and joined to the 500 open faults by a nested
        # loop, 19 million comparisons, 2.1 s; hash joins take 0.15 s, and 18 ms instead of
        # 45 for a box of 529 lights (bench/fleet_picture.py's city, EXPLAIN ANALYZE).
        await conn.execute("SET LOCAL jit = off")
        await conn.execute("SET LOCAL enable_nestloop = off")
        rows = await conn.fetch(CLUSTERS_SQL, *box, q.group, q.office, cell_metres(q.zoom),
                                now, comm_after, list(STATES), q.zoom)
    text = collection([r[0] for r in rows], len(rows))
    if not rows:
        return text
    extent = [min(r[1] for r in rows), min(r[2] for r in rows),
              max(r[3] for r in rows), max(r[4] for r in rows)]
    return text[:-1] + ',"bbox":[' + ",".join(f"{v:.7f}" for v in extent) + "]}"
