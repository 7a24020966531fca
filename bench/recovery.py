#!/usr/bin/env python3
"""Recovery time: N unfinished tasks (default 100,000) in the database, the coordinator killed
with SIGKILL, then started again: time until it listens, until recovery has loaded every task
(GET /ready answers 200), and the resident memory then; next to it the same start with an
empty backlog. Starts its own PostgreSQL; stops by itself.

    bench/recovery.py [N]
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "system"))

import faults  # noqa: E402


def timed_start(s):
    t0 = time.monotonic()
    s.start(ready=False)
    listening = time.monotonic() - t0
    ready = listening + faults.wait_ready(s, 600)
    return listening, ready


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    pg = faults.PrivatePg()
    s = None
    try:
        s = faults.coordinator(pg.database("recovery"), {"TASKER_LOCAL_SLOTS": "0"})
        empty = timed_start(s)
        empty_rss = faults.rss_mb(s.proc.pid)
        t0 = time.monotonic()
        faults.submit_batches(s, n, lambda i: {"type": "sum", "params": {"a": i, "b": 1}},
                              chunk=1000)
        stored = time.monotonic() - t0
        s.kill9()
        listening, ready = timed_start(s)
        m = faults.cluster(s)["task_manager"]
        print("recovery of %d unfinished tasks (stored in %.1f s)" % (n, stored))
        print("%-22s %12s %12s %10s %12s" % ("start", "listening s", "ready s", "RSS MiB",
                                            "recovered"))
        print("%-22s %12.2f %12.2f %10.1f %12d" % ("empty database", empty[0], empty[1],
                                                  empty_rss, 0))
        print("%-22s %12.2f %12.2f %10.1f %12d" % ("after kill -9", listening, ready,
                                                  faults.rss_mb(s.proc.pid), m["recovered"]))
        print("ratio of ready times: %.1fx the empty start" % (ready / max(empty[1], 0.001)))
    finally:
        if s is not None:
            s.close()
        pg.close()


if __name__ == "__main__":
    main()
