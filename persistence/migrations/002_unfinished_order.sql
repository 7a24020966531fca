-- unfinished tasks in (scheduled_at, id) order
-- Recovery and the loading of delayed tasks page through unfinished rows by
-- (scheduled_at, id).
CREATE INDEX tasks_unfinished_order_idx ON tasks (scheduled_at, id)
  WHERE status IN ('PENDING', 'PROCESSING');
DROP INDEX tasks_unfinished_idx;
