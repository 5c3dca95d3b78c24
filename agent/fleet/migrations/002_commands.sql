-- signed commands sent by `lentera-fleet command` (agent/fleet/commands.py): one row per
-- command as sent to one gateway, with exactly the payload string that was signed, and the
-- gateway's ack (docs/mqtt.md "Acks") once it arrived within the command's wait
CREATE TABLE commands (
    id           text PRIMARY KEY,        -- the command id (docs/mqtt.md: unique per command)
    batch        text NOT NULL,           -- one `lentera-fleet command` run
    gateway_id   text NOT NULL,
    kind         text NOT NULL,
    target       jsonb NOT NULL,
    payload      text NOT NULL,           -- the signed string, byte for byte
    sig          text NOT NULL,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    published_at timestamptz,             -- the broker's PUBACK (NULL: never accepted)
    result       text,                    -- done / refused / failed / error; NULL: no ack yet
    reason       text,
    ack          jsonb,
    acked_at     timestamptz
);
CREATE INDEX commands_batch ON commands (batch);

-- an ack that came after the command's wait is still in `acks` (the ingest keeps every ack):
-- this view gives each command its first ack either way
CREATE VIEW command_status AS
SELECT c.id, c.batch, c.gateway_id, c.kind, c.target, c.issued_at, c.published_at,
       coalesce(c.result, a.result) AS result, coalesce(c.reason, a.reason) AS reason
FROM commands c
LEFT JOIN LATERAL (SELECT result, reason FROM acks
                   WHERE acks.gateway_id = c.gateway_id AND acks.command_id = c.id
                   ORDER BY seq LIMIT 1) a ON true;
