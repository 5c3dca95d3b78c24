-- Lentera fleet schema 2: the city's picture (agent/fleet/picture.py, docs/fleet.md "HTTP API
-- and map"): the newest reading per light, lights with their point, open faults including
-- the communication kind, energy per night per group.

-- the newest reading of each light, kept by a statement trigger on the ingest's own COPY, so
-- the map reads one row per light instead of searching every day partition of telemetry;
-- a late (replayed) reading never overwrites a newer one
CREATE TABLE light_last (
    gateway_id  text NOT NULL,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    ts          timestamptz NOT NULL,
    quality     text NOT NULL,
    values      jsonb NOT NULL,
    power       double precision,
    energy      double precision,
    lamp_state  smallint,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway_id, device_id)
);

CREATE FUNCTION light_last_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO light_last AS l (gateway_id, device_id, seq, ts, quality, values, power,
                                 energy, lamp_state)
    SELECT DISTINCT ON (gateway_id, device_id) gateway_id, device_id, seq, ts, quality,
           values, power, energy, lamp_state
    FROM new_rows ORDER BY gateway_id, device_id, ts DESC, seq DESC
    ON CONFLICT (gateway_id, device_id) DO UPDATE SET seq = EXCLUDED.seq, ts = EXCLUDED.ts,
        quality = EXCLUDED.quality, values = EXCLUDED.values, power = EXCLUDED.power,
        energy = EXCLUDED.energy, lamp_state = EXCLUDED.lamp_state, received_at = now()
    WHERE (EXCLUDED.ts, EXCLUDED.seq) > (l.ts, l.seq);
    RETURN NULL;
END $$;

CREATE TRIGGER telemetry_light_last AFTER INSERT ON telemetry
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION light_last_keep();

INSERT INTO light_last (gateway_id, device_id, seq, ts, quality, values, power, energy,
                        lamp_state)
SELECT DISTINCT ON (gateway_id, device_id) gateway_id, device_id, seq, ts, quality, values,
       power, energy, lamp_state
FROM telemetry ORDER BY gateway_id, device_id, ts DESC, seq DESC;

-- when a gateway was last heard, on its own clock: its newest status or reading
CREATE VIEW gateway_heard AS
SELECT g.id AS gateway_id, g.state, greatest(g.status_ts, r.ts) AS heard_ts
FROM gateways g LEFT JOIN (SELECT gateway_id, max(ts) AS ts FROM light_last GROUP BY 1) r
    ON r.gateway_id = g.id;

-- every registered light with its point (lon/lat in WGS 84, null when the GIS has none),
-- its gateway and its newest reading
CREATE VIEW light_points AS
SELECT l.gateway_id, l.device_id, l.pole_id, l.grp, l.office, l.geom,
       ST_X(l.geom::geometry) AS lon, ST_Y(l.geom::geometry) AS lat,
       h.state AS gateway_state, h.heard_ts AS gateway_heard_ts,
       r.ts AS reading_ts, r.seq AS reading_seq, r.quality, r.power, r.energy, r.lamp_state
FROM lights l JOIN gateway_heard h ON h.gateway_id = l.gateway_id
    LEFT JOIN light_last r ON r.gateway_id = l.gateway_id AND r.device_id = l.device_id;

-- open faults at p_now: the raised-and-not-cleared street-light faults from the gateways'
-- events, and `communication` for a light whose newest reading is older than p_after (its
-- detail says whether its whole gateway went silent). A light that never reported is not a
-- communication fault: lights.geojson shows it as never_reported.
CREATE FUNCTION open_faults(p_now timestamptz, p_after interval)
RETURNS TABLE (fault_id bigint, gateway_id text, device_id text, kind text,
               since timestamptz, detail jsonb)
LANGUAGE sql STABLE AS $$
    SELECT f.id, f.gateway_id, f.device_id, f.kind, f.raised_ts,
           jsonb_build_object('raised_seq', f.raised_seq, 'evidence', f.evidence)
    FROM faults f WHERE f.cleared_ts IS NULL
  UNION ALL
    SELECT NULL, p.gateway_id, p.device_id, 'communication', p.reading_ts,
           jsonb_build_object(
               'silent_s', round(extract(epoch FROM p_now - p.reading_ts)),
               'cause', CASE WHEN p.gateway_heard_ts < p_now - p_after
                             THEN 'gateway silent' ELSE 'light silent' END,
               'gateway_heard', p.gateway_heard_ts, 'gateway_state', p.gateway_state)
    FROM light_points p WHERE p.reading_ts < p_now - p_after
$$;

-- energy per night per lighting group, in Wh: the sum of each light's positive meter steps
-- (a reset or a replaced meter counts 0, not minus its total). A night is local noon to
-- noon in p_tz and carries the date of its evening, so a step is never split at midnight.
CREATE FUNCTION energy_per_night(p_tz text, p_from date, p_to date)
RETURNS TABLE (grp text, night date, lights bigint, energy_wh double precision)
LANGUAGE sql STABLE AS $$
    WITH steps AS (
        SELECT t.gateway_id, t.device_id, t.ts,
               t.energy - lag(t.energy) OVER (PARTITION BY t.gateway_id, t.device_id
                                              ORDER BY t.ts, t.seq) AS step
        FROM telemetry t
        WHERE t.energy IS NOT NULL
          AND t.ts >= (p_from + time '12:00') AT TIME ZONE p_tz
          AND t.ts < (p_to + 1 + time '12:00') AT TIME ZONE p_tz)
    SELECT l.grp, ((s.ts AT TIME ZONE p_tz) - interval '12 hours')::date AS night,
           count(DISTINCT (s.gateway_id, s.device_id)),
           coalesce(sum(greatest(s.step, 0)), 0)
    FROM steps s JOIN lights l ON l.gateway_id = s.gateway_id AND l.device_id = s.device_id
    GROUP BY 1, 2 ORDER BY 1, 2
$$;
