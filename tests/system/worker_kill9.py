"""kill -9 of a worker node mid-load: a coordinator without local slots and two workers run
`sleep` tasks; one worker is killed with SIGKILL; its attempts count as failed and run on the
other. Every acknowledged task ends COMPLETED exactly once.
"""

import time

import faults
from faults import check, log


def main():
    db = faults.shared_database("system_worker")
    s = faults.coordinator(db, {"TASKER_LOCAL_SLOTS": "0"})
    s.start()
    port = faults.cluster_port_of(s)
    workers = [faults.worker(s.binary, port, "node-a"), faults.worker(s.binary, port, "node-b")]
    try:
        deadline = time.monotonic() + 20
        while len([w for w in s.request("GET", "/v1/workers").body["workers"]
                   if w["status"] == "ALIVE"]) < 2:
            check(time.monotonic() < deadline, "workers did not join")
            time.sleep(0.1)
        rss = faults.RssSampler(s)
        load = faults.Load(s, threads=4, limit=1500, name="worker",
                           make_task=lambda n: {"type": "sleep", "params": {"ms": 40}})
        time.sleep(1.5)
        log("kill -9 node-a after", len(load.acked), "acknowledged")
        t_kill = time.monotonic()
        workers[0].proc.kill()
        workers[0].proc.wait(5)
        # the node is declared lost (its connection drops at once)
        while True:
            listed = {w["id"]: w["status"] for w in s.request("GET", "/v1/workers").body["workers"]}
            if listed.get("node-a") in ("DEAD", None):
                break
            check(time.monotonic() - t_kill < 10, "node-a not DEAD: %s" % listed)
            time.sleep(0.05)
        dead_after = time.monotonic() - t_kill
        load.wait(120)
        faults.check_codes(load, {200, 202})
        ids = load.ids()
        terminal, lost, dupes = faults.verify(s.db_url, ids, load.expected, timeout=120,
                                              terminal_logs=[s])
        retried = faults.psql_stdin(s.db_url, "SELECT count(*) FROM tasks WHERE attempts > 1;")
        peak = rss.stop()
        faults.report("worker_kill9", len(ids), terminal, lost, dupes, peak, dead_after,
                      {"retried_tasks": int(retried.strip())}, rss_bound_mb=300)
        check(int(retried.strip()) > 0, "no attempt was lost with the killed node")
    finally:
        for w in workers:
            w.stop()
        s.close()


if __name__ == "__main__":
    faults.run(main)
