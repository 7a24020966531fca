"""Prints the fault suite's table from the rows its scenarios wrote, and fails when a scenario
is missing (it failed or did not run) or lost or doubled anything.

    python3 tests/system/table.py [SCENARIO ...]
"""

import json
import os
import sys

import faults

SCENARIOS = ["coordinator_kill9", "pg_stop", "pg_freeze", "worker_kill9", "flood",
             "slow_clients", "actor_crash", "hostile", "partition"]


def main():
    wanted = sys.argv[1:] or SCENARIOS
    rows, missing = [], []
    for name in wanted:
        path = os.path.join(faults.RESULTS_DIR, name + ".json")
        if not os.path.exists(path):
            missing.append(name)
            continue
        with open(path) as f:
            rows.append(json.load(f))
    head = ("scenario", "acknowledged", "terminal", "lost", "duplicates", "peak RSS MiB",
            "time to recover s")
    fmt = "%-18s %12s %9s %5s %10s %13s %18s"
    print(fmt % head)
    for r in rows:
        recover = "-" if r.get("recover_s") is None else "%.2f" % r["recover_s"]
        print(fmt % (r["scenario"], r["acknowledged"], r["terminal"], r["lost"],
                     r["duplicates"], "%.1f" % r["peak_rss_mb"], recover))
    for r in rows:
        extra = {k: v for k, v in r.items() if k not in (
            "scenario", "acknowledged", "terminal", "lost", "duplicates", "peak_rss_mb",
            "recover_s")}
        print("  %s: %s" % (r["scenario"], json.dumps(extra)))
    bad = [r["scenario"] for r in rows if r["lost"] or r["duplicates"]]
    if missing:
        print("missing (failed or not run):", ", ".join(missing))
    if bad:
        print("lost or doubled work:", ", ".join(bad))
    return 1 if missing or bad else 0


if __name__ == "__main__":
    sys.exit(main())
