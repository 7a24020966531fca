-- webhooks
-- A task submitted with a callback_url has its terminal states POSTed there.
-- Each terminal transition of such a task writes a delivery row in the
-- statement that writes the transition (the same outbox as task_events);
-- the webhook sender claims due rows and records how each attempt went.
ALTER TABLE tasks ADD COLUMN callback_url text;
CREATE TABLE webhook_deliveries (
  task_id uuid NOT NULL,
  -- The seq of the terminal event it delivers.
  seq int NOT NULL,
  url text NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts int NOT NULL DEFAULT 0,
  -- When it is due (next attempt, or the end of a claimed attempt).
  next_at timestamptz NOT NULL,
  last_status int,
  last_error text,
  delivered_at timestamptz,
  PRIMARY KEY (task_id, seq)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_at)
  WHERE state = 'pending';
