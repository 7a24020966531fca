#!/usr/bin/env python3
"""Far-future tasks in bounded memory: stores N tasks (default 1,000,000) due in an hour and
prints the coordinator's resident memory and live task actors as they accumulate, against its
memory when empty. Starts its own PostgreSQL; stops by itself.

    bench/delayed.py [N]
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "system"))

import faults  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    step = max(n // 5, 1000)
    pg = faults.PrivatePg()
    s = None
    try:
        s = faults.coordinator(pg.database("delayed"), {"TASKER_LOCAL_SLOTS": "2"})
        s.start()
        base = faults.rss_mb(s.proc.pid)
        print("%-12s %10s %12s %10s" % ("stored", "RSS MiB", "live actors", "rate/s"))
        print("%-12d %10.1f %12d %10s" % (0, base, 0, "-"))
        done = 0
        t0 = time.monotonic()
        while done < n:
            k = min(step, n - done)
            faults.submit_batches(s, k, lambda i: {"type": "sum", "params": {"a": i, "b": 1},
                                                   "delay_ms": 3600000}, chunk=1000)
            done += k
            m = faults.cluster(s)["task_manager"]
            print("%-12d %10.1f %12d %10.0f" % (done, faults.rss_mb(s.proc.pid), m["live_task_actors"],
                                                done / (time.monotonic() - t0)), flush=True)
        print("memory per stored far-future task: %.1f bytes"
              % ((faults.rss_mb(s.proc.pid) - base) * 1024 * 1024 / n))
    finally:
        if s is not None:
            s.close()
        pg.close()


if __name__ == "__main__":
    main()
