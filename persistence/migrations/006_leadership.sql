-- leadership
-- Any number of coordinators share one database; one is active. The lease is
-- the row of coordinator_leader: the active one renews it, and a standby that
-- takes over adds one to its epoch. Every statement that writes the task
-- tables checks, inside its own transaction, that the epoch of the connection
-- (the setting tasker.epoch, which each connection of an active coordinator
-- sets) is still the current one: a deposed coordinator writes nothing
-- (docs/ARCHITECTURE.md, "Standby coordinators").
CREATE TABLE coordinator_leader (
  id int PRIMARY KEY CHECK (id = 1),
  -- Only grows: one more at every takeover.
  epoch bigint NOT NULL,
  -- The coordinators.id of the active one (NULL: none yet), and the
  -- database session that holds its leadership lock (a standby ends only
  -- that one when the lease runs out).
  holder text,
  holder_pid int,
  renewed_at timestamptz
);
INSERT INTO coordinator_leader (id, epoch) VALUES (1, 0);

-- Every coordinator, active or standby, renews its own row; the active one
-- deletes the rows not renewed for a day.
CREATE TABLE coordinators (
  id text PRIMARY KEY,
  name text NOT NULL,
  http_address text NOT NULL,
  cluster_address text NOT NULL,
  role text NOT NULL CHECK (role IN ('active', 'standby', 'stopped')),
  epoch bigint NOT NULL,
  version text NOT NULL,
  started_at timestamptz NOT NULL,
  renewed_at timestamptz NOT NULL
);

-- The fence. A takeover takes advisory lock 7355610 exclusively in its own
-- transaction before it raises the epoch, so it waits for every write that
-- passed the fence under the old epoch; a write that comes after it reads the
-- new epoch and fails with SQLSTATE TF001. A connection without tasker.epoch
-- (an operator's psql, a test) is not fenced.
CREATE FUNCTION coordinator_fence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  mine text := current_setting('tasker.epoch', true);
  current_epoch bigint;
BEGIN
  IF mine IS NULL OR mine = '' THEN
    RETURN NULL;
  END IF;
  -- The check below reads the epoch after taking the lock, which only a
  -- statement snapshot taken then can see (tasker's connections set it).
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'fenced writes need the read committed isolation level'
      USING ERRCODE = 'TF001';
  END IF;
  -- Once passed, the fence holds for the rest of the transaction (no
  -- takeover can commit before it ends): the next statements skip it.
  IF current_setting('tasker.fenced', true) = mine THEN
    RETURN NULL;
  END IF;
  PERFORM pg_advisory_xact_lock_shared(7355610);
  SELECT epoch INTO current_epoch FROM coordinator_leader WHERE id = 1;
  IF current_epoch IS DISTINCT FROM mine::bigint THEN
    RAISE EXCEPTION 'fenced: this coordinator''s epoch % is over, the current one is %',
      mine, current_epoch USING ERRCODE = 'TF001';
  END IF;
  PERFORM set_config('tasker.fenced', mine, true);
  RETURN NULL;
END
$$;

CREATE TRIGGER tasks_fence BEFORE INSERT OR UPDATE OR DELETE ON tasks
  FOR EACH STATEMENT EXECUTE FUNCTION coordinator_fence();
CREATE TRIGGER task_events_fence BEFORE INSERT OR UPDATE OR DELETE ON task_events
  FOR EACH STATEMENT EXECUTE FUNCTION coordinator_fence();
CREATE TRIGGER workers_fence BEFORE INSERT OR UPDATE OR DELETE ON workers
  FOR EACH STATEMENT EXECUTE FUNCTION coordinator_fence();
CREATE TRIGGER webhook_deliveries_fence
  BEFORE INSERT OR UPDATE OR DELETE ON webhook_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION coordinator_fence();
