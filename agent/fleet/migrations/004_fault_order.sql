-- A fault follows its newest raised/cleared event by the gateway's seq (agent/fleet/writer.py
-- _fault): one index lookup per fault event, however long the events table grows.
CREATE INDEX IF NOT EXISTS events_fault_order ON events (gateway_id, device_id, kind, seq DESC);
