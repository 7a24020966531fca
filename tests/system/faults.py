"""Shared pieces of the fault-injection suite (Python 3 standard library only).

Each scenario script starts PostgreSQL (its own cluster when it injures it) and tasker, puts
load on it with `Load` (a real HTTP client that records every acknowledged id), injects its
fault, and ends with `verify()`: every acknowledged id is in the database and terminal, no
result was applied twice, the status codes were the documented ones, peak RSS stayed under
its bound. It writes one result row (JSON) that `table.py` prints as the suite's table.
Every wait is bounded; a scenario stops by itself.
"""

import collections
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

import harness  # noqa: E402
import test_workers  # noqa: E402
from harness import TaskerServer  # noqa: E402

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
RESULTS_DIR = os.environ.get("TASKER_SYSTEM_RESULTS",
                             os.path.join(ROOT, "build", "system-results"))
SECRET = "system-suite-secret"


def log(*args):
    print("[%s]" % time.strftime("%H:%M:%S"), *args, flush=True)


free_port = test_workers.free_port
rss_mb = test_workers.rss_mb


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


# ------------------------------------------------------------------ PostgreSQL


class PrivatePg:
    """A PostgreSQL cluster of one scenario, which it may stop, kill or freeze."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tasker-system-pg-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.url = None
        self.start()

    def start(self):
        out = subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "start", self.dir,
                              str(self.port)], stdout=subprocess.PIPE, check=True, timeout=120)
        self.url = out.stdout.decode().strip()
        return self.url

    def _pg_ctl(self, *args):
        cmd = ["/usr/lib/postgresql/15/bin/pg_ctl", "-D", os.path.join(self.dir, "data")]
        cmd += list(args)
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def stop_immediate(self):
        """`pg_ctl stop -m immediate`: every backend dies, no checkpoint."""
        self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "60")

    def pids(self):
        """The postmaster and all its children."""
        with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
            master = int(f.readline())
        out = subprocess.run(["pgrep", "-P", str(master)], stdout=subprocess.PIPE)
        return [master] + [int(p) for p in out.stdout.split()]

    def signal_all(self, sig):
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def database(self, prefix="system"):
        name = "%s_%s" % (prefix, uuid.uuid4().hex[:12])
        harness.psql(self.url, 'CREATE DATABASE "%s"' % name)
        return name, harness.db_url_for(self.url, name)

    def close(self):
        try:
            self.signal_all(signal.SIGCONT)
        except (OSError, ValueError):
            pass
        subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "stop", self.dir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        subprocess.run(["rm", "-rf", self.dir])


def shared_database(prefix="system"):
    """A fresh database in the test cluster (TASKER_TEST_PG_URL)."""
    return harness.create_database(prefix)


def psql_stdin(url, sql, timeout=120):
    p = subprocess.run(["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                       input=sql.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if p.returncode != 0:
        raise Failure("psql failed: %s" % p.stderr.decode(errors="replace")[:500])
    return p.stdout.decode()


# ------------------------------------------------------------------ tasker


def coordinator(db, env=None, name="coordinator"):
    """A tasker serve process on database `db` ((name, url)); not started."""
    e = {"TASKER_CLUSTER_SECRET": SECRET}
    e.update(env or {})
    return TaskerServer(extra_env=e, db=db, name=name)


def worker(binary, cluster_port, name, slots=8):
    """A `tasker worker` process joining with the suite's secret."""
    return test_workers.Worker(binary, cluster_port, name, secret=SECRET, slots=slots)


def cluster_port_of(server):
    for p in server.find_logs("cluster listening"):
        return int(p["port"])
    raise Failure("no 'cluster listening' line")


class RssSampler:
    """Samples the resident memory of the current coordinator process."""

    def __init__(self, server, interval=0.1):
        self.server = server
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval):
        while not self._stop.wait(interval):
            proc = self.server.proc
            if proc is None or proc.poll() is not None:
                continue
            try:
                self.peak_kb = max(self.peak_kb, rss_mb(proc.pid) * 1024)
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return self.peak_kb / 1024.0


# ------------------------------------------------------------------ load


class Load:
    """Submitters on their own keep-alive connections. Every submission has an idempotency key
    and is retried with the same key after 503/429 (honouring Retry-After) or a lost
    connection, so an acknowledged id is counted once however often it was sent. Records
    every acknowledged (key -> id), the status codes and the slowest answer."""

    OK_CODES = {200, 202, 429, 503}

    def __init__(self, server, threads=4, make_task=None, limit=None, name="load",
                 retry=True):
        self.server = server
        self.make_task = make_task or (lambda n: {"type": "sum", "params": {"a": n, "b": 1}})
        self.limit = limit
        self.name = name
        self.retry = retry
        self.acked = {}  # key -> id
        self.expected = {}  # id -> task body
        self.codes = collections.Counter()
        self.bad = []  # (code, body) of undocumented answers
        self.missing_retry_after = 0
        self.slowest_s = 0.0
        self.slowest_503_s = 0.0
        self.sent = 0
        self._n = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()

    def _next(self):
        with self._lock:
            if self.limit is not None and self._n >= self.limit:
                return None
            self._n += 1
            return self._n

    def _conn(self):
        port = self.server.port
        if port is None:
            return None
        return http.client.HTTPConnection(self.server.host, port, timeout=30)

    def _run(self):
        conn = None
        n = None
        while not self._stop.is_set():
            if n is None:
                n = self._next()
                if n is None:
                    return
                key = "%s-%d-%s" % (self.name, n, uuid.uuid4().hex[:8])
                body = self.make_task(n)
                data = json.dumps(body)
            try:
                if conn is None:
                    conn = self._conn()
                    if conn is None:
                        time.sleep(0.05)
                        continue
                t0 = time.monotonic()
                conn.request("POST", "/v1/tasks", data,
                             {"Content-Type": "application/json", "Idempotency-Key": key})
                r = conn.getresponse()
                text = r.read()
                took = time.monotonic() - t0
            except (OSError, http.client.HTTPException):
                # the coordinator is down or restarting: the same key again soon
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
                continue
            with self._lock:
                self.sent += 1
                self.codes[r.status] += 1
                self.slowest_s = max(self.slowest_s, took)
            if r.status in (200, 202):
                tid = json.loads(text)["id"]
                with self._lock:
                    self.acked[key] = tid
                    self.expected[tid] = body
                n = None
                continue
            if r.status in (429, 503):
                with self._lock:
                    if r.status == 503:
                        self.slowest_503_s = max(self.slowest_503_s, took)
                    if not r.getheader("Retry-After"):
                        self.missing_retry_after += 1
                if not self.retry:
                    n = None
                try:
                    wait = float(r.getheader("Retry-After") or 1)
                except ValueError:
                    wait = 1.0
                self._stop.wait(min(wait, 1.0))
                continue
            with self._lock:
                self.bad.append((r.status, text[:300]))
            n = None

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.1, deadline - time.monotonic()))
        check(not any(t.is_alive() for t in self._threads),
              "the load did not finish within %.0f s" % timeout)

    def ids(self):
        with self._lock:
            return list(self.acked.values())


def submit_batches(server, n, task, chunk=500):
    """Stores n tasks with POST /v1/tasks/batch; returns their ids."""
    ids = []
    client = server.client()
    try:
        for start in range(0, n, chunk):
            body = {"tasks": [task(i) for i in range(start, min(n, start + chunk))]}
            r = client.request("POST", "/v1/tasks/batch", body, timeout=60)
            check(r.status == 202, "batch submit: %s %s" % (r.status, r.text[:300]))
            ids += [t["id"] for t in r.body["tasks"]]
    finally:
        client.close()
    return ids


def wait_ready(server, timeout):
    """Seconds until GET /ready answers 200 (polled every 50 ms)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if ready_status(server) == 200:
            return time.monotonic() - t0
        time.sleep(0.05)
    raise Failure("not ready within %.0f s" % timeout)


def cluster(server):
    """GET /v1/cluster."""
    c = server.client(timeout=10)
    try:
        r = c.request("GET", "/v1/cluster")
        check(r.status == 200, "GET /v1/cluster: %s %s" % (r.status, r.text[:300]))
        return r.body
    finally:
        c.close()


def ready_status(server, timeout=2.0):
    try:
        c = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
        c.request("GET", "/ready")
        status = c.getresponse().status
        c.close()
        return status
    except (OSError, http.client.HTTPException, TypeError):
        return None


# ------------------------------------------------------------------ verification


def verify(db_url, ids, expected=None, timeout=120, terminal_logs=()):
    """Waits until every id is terminal in the database; returns (terminal, lost, duplicates).
    lost: acknowledged ids missing from the database or still not terminal at the end.
    duplicates: tasks whose terminal transition was applied more than once (from the
    coordinators' "task COMPLETED/FAILED" log lines) plus results that are not the task's own."""
    ids = list(dict.fromkeys(ids))
    sql_ids = ",".join("'%s'" % i for i in ids) or "NULL"
    deadline = time.monotonic() + timeout
    rows = {}
    while True:
        out = psql_stdin(db_url, "SELECT id, status, coalesce(result::text, ''), attempts, "
                                 "max_attempts FROM tasks WHERE id IN (%s);" % sql_ids)
        rows = {}
        for line in out.splitlines():
            if line:
                tid, status, result, attempts, max_attempts = line.split("|")
                rows[tid] = (status, result, int(attempts), int(max_attempts))
        pending = [i for i in ids if rows.get(i, ("",))[0] not in TERMINAL]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    lost = [i for i in ids if rows.get(i, ("",))[0] not in TERMINAL]
    terminal = len(ids) - len(lost)
    dupes = set()
    seen = collections.Counter()
    for server in terminal_logs:
        for p in server.find_logs("task "):
            if p.get("message") in ("task COMPLETED", "task FAILED") and p.get("task_id"):
                seen[p["task_id"]] += 1
    dupes.update(t for t, c in seen.items() if c > 1 and t in rows)
    for tid, (status, result, attempts, max_attempts) in rows.items():
        if attempts > max_attempts:
            dupes.add(tid)
        body = (expected or {}).get(tid)
        if body and status == "COMPLETED" and body["type"] == "sum":
            p = body["params"]
            if json.loads(result) != {"sum": p["a"] + p["b"]}:
                dupes.add(tid)
    if lost:
        log("lost or unfinished:", [(i, rows.get(i)) for i in lost[:10]])
    return terminal, lost, sorted(dupes)


def report(scenario, acknowledged, terminal, lost, duplicates, peak_rss_mb, recover_s, extra=None,
           rss_bound_mb=None):
    row = {"scenario": scenario, "acknowledged": acknowledged, "terminal": terminal,
           "lost": len(lost), "duplicates": len(duplicates), "peak_rss_mb": round(peak_rss_mb, 1),
           "rss_bound_mb": rss_bound_mb,
           "recover_s": None if recover_s is None else round(recover_s, 2)}
    row.update(extra or {})
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, scenario + ".json"), "w") as f:
        json.dump(row, f)
    log("result", json.dumps(row))
    check(not lost, "%d acknowledged tasks lost or unfinished" % len(lost))
    check(not duplicates, "%d tasks applied twice or with a wrong result" % len(duplicates))
    if rss_bound_mb is not None:
        check(peak_rss_mb < rss_bound_mb,
              "peak RSS %.0f MiB over its bound %d MiB" % (peak_rss_mb, rss_bound_mb))
    return row


def check_codes(load, allowed):
    check(not load.bad, "undocumented answers: %s" % load.bad[:5])
    check(set(load.codes) <= set(allowed), "codes %s outside %s" % (dict(load.codes), allowed))
    check(load.missing_retry_after == 0,
          "%d answers 429/503 without Retry-After" % load.missing_retry_after)


def run(main):
    """Runs a scenario's main() and exits 0 on success, 1 on a failed check."""
    t0 = time.monotonic()
    try:
        main()
    except Failure as e:
        log("FAILED:", e)
        sys.exit(1)
    log("passed in %.1f s" % (time.monotonic() - t0))
