-- events by time
-- GET /v1/stats reads the events of a time window. Events are written in
-- time order, so a BRIN index (one summary per block range) finds the window
-- at almost no cost to the writes.
CREATE INDEX task_events_at_brin ON task_events USING brin (at);
