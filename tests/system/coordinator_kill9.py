"""kill -9 of the coordinator mid-load, then again while it recovers.

Phase 1: four clients submit `sum` and short `sleep` tasks; the coordinator is killed with
SIGKILL in the middle and started again; the clients keep going (same idempotency key after a
lost connection). Phase 2: 20,000 tasks are stored while nothing runs them, the coordinator is killed, started
and killed again within moments of listening (while it loads them), then started for good.
Every acknowledged task must end terminal exactly once.
"""

import signal
import time

import faults
from faults import check, log


def task(n):
    if n % 3 == 0:
        return {"type": "sleep", "params": {"ms": 20}}
    return {"type": "sum", "params": {"a": n, "b": 1}}


def main():
    db = faults.shared_database("system_kill")
    s = faults.coordinator(db, {"TASKER_LOCAL_SLOTS": "8"})
    servers = [s]
    s.start()
    rss = faults.RssSampler(s)
    load = faults.Load(s, threads=4, make_task=task, limit=3000, name="kill")
    time.sleep(1.5)
    log("kill -9 mid-load after", len(load.acked), "acknowledged")
    s.kill9()
    time.sleep(0.5)
    t0 = time.monotonic()
    s.start()
    recover1 = time.monotonic() - t0
    load.wait(120)
    faults.check_codes(load, {200, 202, 503})
    ids = load.ids()

    # Phase 2: a kill while recovery loads 20,000 unfinished tasks (no slots
    # meanwhile, so they stay unfinished).
    s.kill9()
    s.extra_env["TASKER_LOCAL_SLOTS"] = "0"
    s.start()
    delayed = faults.submit_batches(s, 20000, lambda i: {
        "type": "sum", "params": {"a": i, "b": 2}})
    expected = dict(load.expected)
    for i, tid in enumerate(delayed):
        expected[tid] = {"type": "sum", "params": {"a": i, "b": 2}}
    s.kill9()
    s.extra_env["TASKER_LOAD_PAGE"] = "500"  # recovery in 40 reads
    s.start(ready=False)
    # as soon as it listens: recovery of 20,000 tasks is under way
    during = False
    for _ in range(100):
        m = faults.cluster(s)["task_manager"]
        if m["recovered"] > 0:
            during = not m["recovery_done"]
            break
        time.sleep(0.01)
    s.proc.send_signal(signal.SIGKILL)
    s.kill9()
    log("killed again during recovery:", during)
    s.extra_env["TASKER_LOCAL_SLOTS"] = "8"
    del s.extra_env["TASKER_LOAD_PAGE"]
    s.start(ready=False)
    recover2 = faults.wait_ready(s, 120)
    recovered = faults.cluster(s)["task_manager"]["recovered"]
    check(recovered >= len(delayed) * 0.9,
          "the last start recovered %d of %d unfinished" % (recovered, len(delayed)))
    terminal, lost, dupes = faults.verify(s.db_url, ids + delayed, expected, timeout=180,
                                          terminal_logs=servers)
    peak = rss.stop()
    s.close()
    faults.report("coordinator_kill9", len(ids) + len(delayed), terminal, lost, dupes, peak,
                  recover2, {"recover_first_s": round(recover1, 2),
                             "killed_during_recovery": during,
                             "recovered_tasks": recovered},
                  rss_bound_mb=400)
    check(during, "the second kill did not land during recovery")


if __name__ == "__main__":
    faults.run(main)
