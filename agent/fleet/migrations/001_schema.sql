-- Lentera fleet schema 1: the city's picture of its gateways and lights.
-- Applied by `lentera fleet migrate` (fleet/db.py), once, inside one transaction.
CREATE EXTENSION IF NOT EXISTS postgis;

-- the registry: a message from a gateway that is not here is counted, never stored
CREATE TABLE gateways (
    id              text PRIMARY KEY,
    office          text,
    state           text,                 -- online / offline from the retained status
    status_ts       timestamptz,
    status          jsonb,
    outbox_dropped  bigint NOT NULL DEFAULT 0,   -- status.outbox.dropped (a running total)
    outbox_backlog  bigint,
    seen_at         timestamptz
);

CREATE TABLE lights (
    gateway_id  text NOT NULL REFERENCES gateways(id),
    device_id   text NOT NULL,
    pole_id     text UNIQUE,
    grp         text,
    office      text,
    geom        geography(Point, 4326),
    PRIMARY KEY (gateway_id, device_id)
);
CREATE INDEX lights_geom ON lights USING gist (geom);

-- every (gateway, seq) ever committed: the one place duplicates are dropped (seq is one
-- counter per gateway shared by telemetry, events and acks), and where gaps are found
CREATE TABLE received (
    gateway_id  text NOT NULL,
    seq         bigint NOT NULL,
    kind        char(1) NOT NULL,         -- t, e, a
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway_id, seq)
);

-- one partition per UTC day (fleet/partitions.py creates them ahead, drops them for retention)
CREATE TABLE telemetry (
    gateway_id  text NOT NULL,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    ts          timestamptz NOT NULL,
    quality     text NOT NULL,
    values      jsonb NOT NULL,
    power       double precision,
    energy      double precision,
    lamp_state  smallint
) PARTITION BY RANGE (ts);
CREATE INDEX telemetry_device_ts ON telemetry (gateway_id, device_id, ts);

CREATE TABLE events (
    gateway_id  text NOT NULL,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    ts          timestamptz NOT NULL,
    kind        text NOT NULL,
    state       text,
    body        jsonb NOT NULL,
    PRIMARY KEY (gateway_id, seq)
);
CREATE INDEX events_kind_ts ON events (kind, ts);

-- open and cleared street-light faults, from the raised/cleared events
CREATE TABLE faults (
    id          bigserial PRIMARY KEY,
    gateway_id  text NOT NULL,
    device_id   text NOT NULL,
    kind        text NOT NULL,
    raised_ts   timestamptz NOT NULL,
    raised_seq  bigint NOT NULL,
    cleared_ts  timestamptz,
    cleared_seq bigint,
    evidence    jsonb
);
CREATE UNIQUE INDEX faults_one_open ON faults (gateway_id, device_id, kind)
    WHERE cleared_ts IS NULL;

CREATE TABLE acks (
    gateway_id  text NOT NULL,
    seq         bigint NOT NULL,
    ts          timestamptz NOT NULL,
    command_id  text,
    result      text NOT NULL,
    reason      text,
    body        jsonb NOT NULL,
    PRIMARY KEY (gateway_id, seq)
);

-- rejected messages, counted per gateway (topic level, possibly unknown) and reason; one
-- row per pair so a storm of garbage costs an update, not a row each
CREATE TABLE rejects (
    gateway_id  text NOT NULL,
    reason      text NOT NULL,
    count       bigint NOT NULL,
    last_at     timestamptz NOT NULL,
    sample      text,
    PRIMARY KEY (gateway_id, reason)
);

CREATE TABLE complaints (
    id          text PRIMARY KEY,         -- the complaints app's report id
    office      text,
    body        text,
    reported_at timestamptz NOT NULL,
    geom        geography(Point, 4326),
    pole_id     text,
    verdict     text,                     -- confirmed / send_crew / healthy_since
    gateway_id  text,
    device_id   text,
    fault_id    bigint REFERENCES faults(id),
    distance_m  double precision,
    explanation text,
    resolved_at timestamptz,
    resolution  text
);
CREATE INDEX complaints_fault ON complaints (fault_id) WHERE resolved_at IS NULL;
