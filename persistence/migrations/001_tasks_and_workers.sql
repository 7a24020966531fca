-- tasks and workers
CREATE TABLE tasks (
  id uuid PRIMARY KEY,
  type text NOT NULL,
  params jsonb NOT NULL,
  status text NOT NULL
    CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED')),
  result jsonb,
  error text,
  priority smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 9),
  attempts int NOT NULL DEFAULT 0,
  max_attempts int NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 100),
  timeout_ms int NOT NULL CHECK (timeout_ms > 0),
  idempotency_key text,
  request_hash text,
  worker_id text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  scheduled_at timestamptz NOT NULL,
  started_at timestamptz,
  completed_at timestamptz
) WITH (fillfactor = 85);
-- Idempotency keys are unique; most tasks have none and skip this index.
CREATE UNIQUE INDEX tasks_idempotency_key_idx ON tasks (idempotency_key)
  WHERE idempotency_key IS NOT NULL;
-- Listing newest first (COMPLETED, the bulk, is listed through this one).
CREATE INDEX tasks_created_idx ON tasks (created_at DESC, id DESC);
-- Listing and polling the other statuses: a finished task leaves it.
CREATE INDEX tasks_status_created_idx ON tasks (status, created_at DESC, id DESC)
  WHERE status <> 'COMPLETED';
-- Recovery and due tasks: only unfinished rows.
CREATE INDEX tasks_unfinished_idx ON tasks (scheduled_at)
  WHERE status IN ('PENDING', 'PROCESSING');
CREATE TABLE workers (
  id text PRIMARY KEY,
  address text NOT NULL,
  status text NOT NULL CHECK (status IN ('ALIVE', 'SUSPECT', 'DRAINING', 'DEAD')),
  task_types jsonb NOT NULL,
  slots int NOT NULL,
  joined_at timestamptz NOT NULL,
  last_seen timestamptz NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}'
);
