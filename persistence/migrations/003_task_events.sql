-- task history and the event stream
-- Each transition of a task counts in `seq` and writes one row of
-- task_events, in the statement that writes the task's row (a transactional
-- outbox): numbered by (task_id, seq), so that writing a state again writes
-- its event once.
ALTER TABLE tasks ADD COLUMN seq int NOT NULL DEFAULT 0;
CREATE TABLE task_events (
  task_id uuid NOT NULL,
  seq int NOT NULL,
  -- The writing transaction: the stream reads in (tx, task_id, seq) order,
  -- and only what transactions older than every running one wrote, so that
  -- a reader never passes an event that a slower transaction commits later.
  tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
  kind text NOT NULL CHECK (kind IN ('submitted', 'started', 'retry_scheduled',
    'completed', 'failed', 'cancelled', 'retried')),
  status text NOT NULL
    CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED')),
  type text NOT NULL,
  attempt int NOT NULL,
  worker_id text,
  error text,
  at timestamptz NOT NULL,
  scheduled_at timestamptz,
  started_at timestamptz,
  PRIMARY KEY (task_id, seq)
);
CREATE INDEX task_events_stream_idx ON task_events (tx, task_id, seq);
