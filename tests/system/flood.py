"""A flood past TASKER_MAX_PENDING: sixteen clients submit as fast as they can to a coordinator
that may hold 300 unfinished tasks. Past the bound submits get 429 with Retry-After (clients
retry then); memory stays bounded; every acknowledged task ends COMPLETED once. Then 100,000
far-future delayed tasks: they wait in the database, not in memory.
"""

import time

import faults
from faults import check, log


def main():
    db = faults.shared_database("system_flood")
    s = faults.coordinator(db, {"TASKER_LOCAL_SLOTS": "4", "TASKER_MAX_PENDING": "300"})
    s.start()
    try:
        rss = faults.RssSampler(s)
        load = faults.Load(s, threads=16, limit=4000, name="flood",
                           make_task=lambda n: {"type": "sleep", "params": {"ms": 5}})
        load.wait(180)
        faults.check_codes(load, {200, 202, 429})
        check(load.codes[429] > 0, "nothing was refused: %s" % dict(load.codes))
        ids = load.ids()
        peak_flood = rss.peak_kb / 1024.0
        # far-future tasks cost no memory
        live_before = faults.cluster(s)["task_manager"]["live_task_actors"]
        t0 = time.monotonic()
        far = faults.submit_batches(s, 100000, lambda i: {
            "type": "sum", "params": {"a": i, "b": 1}, "delay_ms": 3600000}, chunk=1000)
        took = time.monotonic() - t0
        m = faults.cluster(s)["task_manager"]
        log("100,000 delayed tasks stored in %.1f s; live actors %d" % (took, m["live_task_actors"]))
        check(m["live_task_actors"] <= live_before + 10,
              "delayed tasks hold actors: %s" % m)
        check(m["delayed_parked"] >= 100000, "not parked: %s" % m)
        terminal, lost, dupes = faults.verify(s.db_url, ids, load.expected, timeout=120,
                                              terminal_logs=[s])
        stored = int(faults.psql_stdin(s.db_url, "SELECT count(*) FROM tasks WHERE status = "
                                                 "'PENDING' AND scheduled_at > now() + "
                                                 "interval '30 minutes';").strip())
        check(stored == 100000, "%d of the delayed tasks are stored" % stored)
        peak = rss.stop()
        faults.report("flood", len(ids), terminal, lost, dupes, peak, None,
                      {"refused_429": load.codes[429], "peak_rss_flood_mb": round(peak_flood, 1),
                       "delayed_stored": stored,
                       "live_actors_after_delayed": m["live_task_actors"]},
                      rss_bound_mb=250)
    finally:
        s.close()


if __name__ == "__main__":
    faults.run(main)
