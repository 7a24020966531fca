"""Takeover times of standby coordinators, under load.

    TASKER_TEST_PG_URL=postgresql://postgres@127.0.0.1:PORT/postgres \\
        python3 bench/failover.py [--rounds 10] [--mode kill9|stop] [--lease-ms 2000]

Two coordinators on one database, two worker nodes that take the list of both, and a client
that submits through both in turn (as a load balancer would). Each round stops the active one
(`kill9`: SIGKILL; `stop`: SIGSTOP, so a standby has to wait out the lease), measures the time
until the other answers /ready as the active one, brings the old one back as a standby (SIGCONT,
or a new process) and goes on. Prints each round, then the median and worst, and what the
client saw: acknowledged submissions, 503 answers (each with Retry-After), connection errors.
At the end it checks that every acknowledged task completed with exactly one terminal event.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))

from harness import TaskerServer, create_database, drop_database, free_port, psql  # noqa: E402
from test_failover import SECRET, Loader, ready_of  # noqa: E402
from test_workers import Worker  # noqa: E402


def wait_active(port, since, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = ready_of(port)
        if status == 200 and isinstance(body, dict) and body.get("role") == "active":
            return time.monotonic() - since
        time.sleep(0.01)
    raise SystemExit("no takeover within %.0f s" % timeout)


def wait_standby(port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = ready_of(port)
        if status == 200 and isinstance(body, dict) and body.get("role") == "standby":
            return
        time.sleep(0.05)
    raise SystemExit("the old coordinator did not come back as a standby")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--mode", choices=("kill9", "stop"), default="kill9")
    ap.add_argument("--lease-ms", type=int, default=2000)
    args = ap.parse_args()
    db = create_database("tasker_bench_failover")
    http = [free_port(), free_port()]
    cluster = [free_port(), free_port()]
    servers = [TaskerServer(db=db, name="c%d" % i, extra_env={
        "TASKER_HTTP_PORT": str(http[i]), "TASKER_CLUSTER_PORT": str(cluster[i]),
        "TASKER_CLUSTER_SECRET": SECRET, "TASKER_COORDINATOR_NAME": "c%d" % i,
        "TASKER_LEASE_MS": str(args.lease_ms), "TASKER_LOCAL_SLOTS": "0",
        "TASKER_NODE_SUSPECT_MS": "1000", "TASKER_NODE_DEAD_MS": "2500"}) for i in range(2)]
    workers = []
    loader = None
    try:
        for s in servers:
            s.start()
        join = ",".join("127.0.0.1:%d" % p for p in cluster)
        workers = [Worker(servers[0].binary, cluster[0], "w%d" % i, secret=SECRET, slots=8,
                          extra_env={"TASKER_JOIN": join}) for i in range(2)]
        time.sleep(1.5)
        loader = Loader(http, "bench", ms=20)
        loader.start()
        active = 0
        rounds = []
        for r in range(args.rounds):
            time.sleep(2.0)
            before = (len(loader.acked), loader.unavailable, loader.connection_errors)
            t0 = time.monotonic()
            if args.mode == "kill9":
                servers[active].kill9()
            else:
                os.kill(servers[active].proc.pid, 19)
            took = wait_active(http[1 - active], t0)
            if args.mode == "kill9":
                servers[active].start(ready=False)
            else:
                os.kill(servers[active].proc.pid, 18)
            wait_standby(http[active])
            after = (len(loader.acked), loader.unavailable, loader.connection_errors)
            seen = [a - b for a, b in zip(after, before)]
            rounds.append(took)
            print("round %2d: %s c%d -> c%d active after %5.0f ms; meanwhile %d acknowledged, "
                  "%d answered 503, %d connection errors" % (
                      r + 1, args.mode, active, 1 - active, took * 1000, *seen))
            active = 1 - active
        time.sleep(1.0)
        loader.finish()
        ms = sorted(t * 1000 for t in rounds)
        print("takeover (%s, lease %d ms) over %d rounds: median %.0f ms, worst %.0f ms, "
              "best %.0f ms" % (args.mode, args.lease_ms, len(ms), statistics.median(ms),
                                ms[-1], ms[0]))
        print("client: %d acknowledged, %d answered 503 (all with Retry-After: %s), %d "
              "connection errors, other answers: %s" % (
                  len(loader.acked), loader.unavailable, loader.missing_retry_after == 0,
                  loader.connection_errors, loader.other[:3]))
        ids = list(loader.acked)
        deadline = time.monotonic() + 120
        while True:
            out = psql(db[1], "COPY (SELECT count(*) FROM tasks WHERE status NOT IN "
                              "('COMPLETED', 'FAILED', 'CANCELLED')) TO STDOUT")
            if out.strip() == "0" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        # (The ids go in through a temporary table: too many for a command line.)
        rows = "\n".join(ids) + "\n\\.\n"
        sql = ("CREATE TEMP TABLE acked (id uuid);\nCOPY acked FROM STDIN;\n" + rows +
               "SELECT (SELECT count(*) FROM tasks t JOIN acked a USING (id) WHERE "
               "t.status = 'COMPLETED'), (SELECT count(*) FROM (SELECT task_id FROM "
               "task_events e JOIN acked a ON a.id = e.task_id WHERE kind IN ('completed', "
               "'failed', 'cancelled') GROUP BY task_id HAVING count(*) <> 1) x);\n")
        p = subprocess.run(["psql", db[1], "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"],
                           input=sql.encode(), stdout=subprocess.PIPE, check=True, timeout=60)
        done, odd = p.stdout.decode().strip().splitlines()[-1].split("|")
        print("acknowledged tasks completed: %s of %d; with other than one terminal event: %s"
              % (done, len(ids), odd))
        return 0 if done == str(len(ids)) and odd == "0" else 1
    finally:
        if loader is not None and loader.is_alive():
            loader.finish()
        for w in workers:
            w.stop()
        for s in servers:
            try:
                os.kill(s.proc.pid, 18)
            except (OSError, AttributeError):
                pass
            s.close()
        drop_database(db[0])


if __name__ == "__main__":
    sys.exit(main())
