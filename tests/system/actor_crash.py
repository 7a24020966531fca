"""Supervised actors crash mid-load: with fault injection on, the coordinator's dispatcher,
persistence and gateway actors are killed in turn (`POST /v1/debug/crash/{actor}`, the
dispatcher twice) while clients submit and two worker nodes (the local one and a `tasker
worker` process) run `sum` and `sleep` tasks. Each is restarted by its supervisor; the worker
nodes join the new dispatcher again, live tasks queue again, and an attempt the dead dispatcher
had started counts as lost and runs again. Every acknowledged task ends terminal once.
"""

import http.client
import time

import faults
from faults import check, log


def crash(s, actor):
    """Asks the coordinator to crash one of its supervised actors; the gateway may drop the
    connection when it is the one crashing."""
    c = http.client.HTTPConnection(s.host, s.port, timeout=10)
    try:
        c.request("POST", "/v1/debug/crash/" + actor)
        r = c.getresponse()
        r.read()
        check(r.status == 202, "crash %s: %s" % (actor, r.status))
    except (OSError, http.client.HTTPException):
        check(actor == "gateway", "crash %s: the connection dropped" % actor)
    finally:
        c.close()


def restarts(s):
    """Restarts by supervisor, from /v1/cluster (None while it cannot answer)."""
    try:
        sup = faults.cluster(s)["supervisors"]
    except (faults.Failure, faults.harness.HarnessError, OSError, http.client.HTTPException,
            KeyError, TypeError):
        return None
    return {k: v["restarts"] for k, v in sup.items()}


def wait_restarted(s, actor, n, t0, timeout=15):
    while True:
        got = restarts(s)
        if got is not None and got.get(actor) == n:
            return got
        check(time.monotonic() - t0 < timeout, "%s not restarted %d times: %s" % (actor, n, got))
        time.sleep(0.05)


def alive_workers(s):
    try:
        return sorted(w["id"] for w in s.request("GET", "/v1/workers").body["workers"]
                      if w["status"] == "ALIVE")
    except (faults.harness.HarnessError, OSError, http.client.HTTPException, KeyError,
            TypeError, AttributeError):
        return []


def main():
    db = faults.shared_database("system_actor_crash")
    s = faults.coordinator(db, {"TASKER_LOCAL_SLOTS": "4", "TASKER_FAULT_INJECTION": "1"})
    s.start()
    port = faults.cluster_port_of(s)
    remote = faults.worker(s.binary, port, "node-r", slots=4)
    nodes = ["local", "node-r"]
    try:
        deadline = time.monotonic() + 20
        while alive_workers(s) != nodes:
            check(time.monotonic() < deadline, "workers did not join: %s" % alive_workers(s))
            time.sleep(0.1)
        # Fault injection answers 404 for an actor it does not know.
        c = s.client(timeout=10)
        r = c.request("POST", "/v1/debug/crash/nobody")
        c.close()
        check(r.status == 404 and r.body["error"]["code"] == "not_found",
              "crash of an unknown actor: %s %s" % (r.status, r.text[:200]))
        rss = faults.RssSampler(s)

        def task(n):
            if n % 2:
                return {"type": "sleep", "params": {"ms": 10}, "max_attempts": 5}
            return {"type": "sum", "params": {"a": n, "b": 1}, "max_attempts": 5}

        # Submitting goes on through every crash and stops a second after the last.
        load = faults.Load(s, threads=4, name="crash", make_task=task)
        rejoin_s = []
        for actor, n in (("dispatcher", 1), ("persistence", 1), ("gateway", 1),
                         ("dispatcher", 2)):
            time.sleep(1.0)
            log("crash", actor, "after", len(load.acked), "acknowledged")
            t0 = time.monotonic()
            crash(s, actor)
            wait_restarted(s, actor, n, t0)
            if actor == "dispatcher":
                # Both nodes join the new dispatcher (at their next heartbeat).
                while alive_workers(s) != nodes:
                    check(time.monotonic() - t0 < 15,
                          "nodes did not rejoin: %s" % alive_workers(s))
                    time.sleep(0.05)
                rejoin_s.append(time.monotonic() - t0)
                log("nodes rejoined after %.2f s" % rejoin_s[-1])
        time.sleep(1.0)
        load.stop()
        faults.check_codes(load, {200, 202, 503})
        ids = load.ids()
        terminal, lost, dupes = faults.verify(s.db_url, ids, load.expected, timeout=120,
                                              terminal_logs=[s])
        retried = int(faults.psql_stdin(
            s.db_url, "SELECT count(*) FROM tasks WHERE attempts > 1;").strip() or 0)
        lost_attempts = len([p for p in s.find_logs("attempt failed, retrying")
                             if "dispatcher restarted" in p.get("error", "")])
        final = restarts(s)
        manager = faults.cluster(s)["task_manager"]
        peak = rss.stop()
        check(final == {"task_manager": 0, "gateway": 1, "persistence": 1, "dispatcher": 2},
              "restarts by supervisor: %s" % final)
        check(s.find_logs("dispatcher started again"), "no restart of the dispatcher logged")
        check(remote.proc.poll() is None, "the worker process exited")
        check("joining again" in remote.text(), "the worker did not join again in place")
        faults.report("actor_crash", len(ids), terminal, lost, dupes, peak, max(rejoin_s),
                      {"restarts": final, "retried_tasks": retried,
                       "attempts_lost_with_dispatcher": lost_attempts,
                       "submits_in_doubt_stored": manager["in_doubt_stored"],
                       "submits_in_doubt_not_stored": manager["in_doubt_not_stored"],
                       "codes": dict(load.codes)}, rss_bound_mb=200)
    finally:
        remote.stop()
        s.close()


if __name__ == "__main__":
    faults.run(main)
