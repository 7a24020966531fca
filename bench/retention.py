#!/usr/bin/env python3
"""Retention under load: the submit rate of one task per request (bench/loadgen, 64
connections) against an empty table, then against a table holding N finished tasks (default
5,000,000) older than the retention, first without retention, then while retention deletes
them, in one run on one private PostgreSQL. Prints both rates, their ratio, and how many rows retention deleted meanwhile.
Stops by itself.

    bench/retention.py [N] [--tasks T]      (T tasks per loadgen run, default 30000)
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))

import faults  # noqa: E402

LOADGEN = os.path.join(ROOT, "build", "bench", "loadgen")


def fill(url, n):
    """n tasks that finished ten days ago, in chunks of a million rows."""
    done = 0
    while done < n:
        k = min(1000000, n - done)
        faults.psql_stdin(url, """
INSERT INTO tasks (id, type, params, status, result, priority, attempts, max_attempts,
                   timeout_ms, worker_id, created_at, updated_at, scheduled_at, started_at,
                   completed_at)
SELECT gen_random_uuid(), 'sum', '{"a": 1, "b": 2}', 'COMPLETED', '{"sum": 3}', 0, 1, 3, 60000,
       'local', t, t + interval '2 ms', t, t + interval '1 ms', t + interval '2 ms'
FROM (SELECT now() - interval '10 days' + (%d + i) * interval '1 ms' AS t
      FROM generate_series(1, %d) AS i) AS g;
""" % (done, k), timeout=1800)
        done += k
        print("  stored %d finished tasks" % done, flush=True)
    faults.psql_stdin(url, "VACUUM ANALYZE tasks;", timeout=1800)


def metric(server, name):
    r = server.request("GET", "/metrics")
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def load(server, tasks):
    out = subprocess.run([LOADGEN, "--url", "http://127.0.0.1:%d" % server.port,
                          "--tasks", str(tasks), "--connections", "64", "--progress-s", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900)
    if out.returncode != 0:
        raise faults.Failure("loadgen failed: %s" % out.stderr.decode()[-500:])
    line = [l for l in out.stdout.decode().splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rows", nargs="?", type=int, default=5000000)
    ap.add_argument("--tasks", type=int, default=30000)
    a = ap.parse_args()
    if not os.path.exists(LOADGEN):
        sys.exit("build bench/loadgen first (cmake --build build --target loadgen)")
    pg = faults.PrivatePg()
    servers = []
    try:
        env = {"TASKER_LOCAL_SLOTS": "8", "TASKER_RETENTION": "1d",
               "TASKER_RETENTION_INTERVAL_MS": "1000"}
        empty = faults.coordinator(pg.database("ret_empty"), env, name="empty")
        servers.append(empty)
        empty.start()
        r_empty = load(empty, a.tasks)
        empty.stop()
        print("empty table: %.0f tasks/s end to end, submit %.0f/s"
              % (r_empty["e2e_rate_wall"], r_empty["submit_rate"]), flush=True)

        db = pg.database("ret_full")
        # Migrate with a first start, stop, fill, then start with retention.
        full = faults.coordinator(db, {"TASKER_LOCAL_SLOTS": "8"}, name="migrate")
        servers.append(full)
        full.start()
        full.stop()
        t0 = time.monotonic()
        fill(db[1], a.rows)
        print("  filled in %.0f s" % (time.monotonic() - t0), flush=True)
        # The same table without retention: what the rows alone cost.
        idle = faults.coordinator(db, {"TASKER_LOCAL_SLOTS": "8"}, name="full-no-retention")
        servers.append(idle)
        idle.start()
        r_idle = load(idle, a.tasks)
        idle.stop()
        print("%d finished rows, no retention: %.0f tasks/s end to end, submit %.0f/s"
              % (a.rows, r_idle["e2e_rate_wall"], r_idle["submit_rate"]), flush=True)
        full = faults.coordinator(db, env, name="full")
        servers.append(full)
        full.start()
        time.sleep(2)  # the first pass is under way
        before = metric(full, "tasker_retention_deleted_total")
        r_full = load(full, a.tasks)
        deleted = metric(full, "tasker_retention_deleted_total") - before
        full.stop()
        print("%d finished rows, retention deleting: %.0f tasks/s end to end, submit %.0f/s; "
              "retention deleted %d rows meanwhile (%.0f/s)"
              % (a.rows, r_full["e2e_rate_wall"], r_full["submit_rate"], deleted,
                 deleted / max(r_full.get("wall_s") or 1, 1e-9)), flush=True)
        for label, r in (("full, no retention", r_idle), ("full and pruning", r_full)):
            print("ratio, %s / empty: %.2f end to end, %.2f submit"
                  % (label, r["e2e_rate_wall"] / r_empty["e2e_rate_wall"],
                     r["submit_rate"] / r_empty["submit_rate"]))
    finally:
        for s in servers:
            s.close()
        pg.close()


if __name__ == "__main__":
    main()
