-- Lentera fleet schema 5: `light_last` (003_picture.sql) follows telemetry's columns instead of
-- repeating them by hand. light_last_follow_telemetry() reads telemetry's columns from the
-- catalog, adds the ones light_last lacks (same type), refuses a column whose type differs
-- (converting kept readings is a decision for the migration that changes it), lets a column
-- telemetry dropped be left empty, and writes light_last_keep() again with the column list.
-- A migration that changes telemetry's columns ends with `SELECT light_last_follow_telemetry();`
-- (tests/agent/fleet/test_picture.py adds a column and sees it kept). It runs at migration
-- time only: the trigger it writes is plain SQL, with no per-row catalog lookups.
CREATE FUNCTION light_last_follow_telemetry() RETURNS void LANGUAGE plpgsql AS $f$
DECLARE
    col record;
    have text;
    cols text;
    sets text;
BEGIN
    FOR col IN SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
               FROM pg_attribute a
               WHERE a.attrelid = 'telemetry'::regclass AND a.attnum > 0 AND NOT a.attisdropped
                 AND a.attname <> 'received_at'
               ORDER BY a.attnum LOOP
        SELECT format_type(b.atttypid, b.atttypmod) INTO have FROM pg_attribute b
        WHERE b.attrelid = 'light_last'::regclass AND b.attname = col.attname
          AND b.attnum > 0 AND NOT b.attisdropped;
        IF have IS NULL THEN
            EXECUTE format('ALTER TABLE light_last ADD COLUMN %I %s', col.attname, col.type);
        ELSIF have <> col.type THEN
            RAISE EXCEPTION 'light_last.% is % but telemetry.% is %: convert light_last''s '
                            'column in the same migration, then call light_last_follow_telemetry()',
                            col.attname, have, col.attname, col.type;
        END IF;
    END LOOP;
    -- a column telemetry no longer has: kept, but it must not block the trigger's inserts
    FOR col IN SELECT b.attname FROM pg_attribute b
               WHERE b.attrelid = 'light_last'::regclass AND b.attnum > 0 AND NOT b.attisdropped
                 AND b.attnotnull AND b.attname NOT IN ('gateway_id', 'device_id', 'received_at')
                 AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                                 WHERE a.attrelid = 'telemetry'::regclass
                                   AND a.attname = b.attname AND NOT a.attisdropped) LOOP
        EXECUTE format('ALTER TABLE light_last ALTER COLUMN %I DROP NOT NULL', col.attname);
    END LOOP;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
           string_agg(format('%1$I = EXCLUDED.%1$I', a.attname), ', ' ORDER BY a.attnum)
               FILTER (WHERE a.attname NOT IN ('gateway_id', 'device_id'))
      INTO cols, sets
      FROM pg_attribute a
     WHERE a.attrelid = 'telemetry'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname <> 'received_at';
    EXECUTE format($body$
CREATE OR REPLACE FUNCTION light_last_keep() RETURNS trigger LANGUAGE plpgsql AS $k$
BEGIN
    INSERT INTO light_last AS l (%1$s)
    SELECT DISTINCT ON (gateway_id, device_id) %1$s
    FROM new_rows ORDER BY gateway_id, device_id, ts DESC, seq DESC
    ON CONFLICT (gateway_id, device_id) DO UPDATE SET %2$s, received_at = now()
    WHERE (EXCLUDED.ts, EXCLUDED.seq) > (l.ts, l.seq);
    RETURN NULL;
END $k$$body$, cols, sets);
END $f$;

SELECT light_last_follow_telemetry();
