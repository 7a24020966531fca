#!/usr/bin/env python3
"""Tasks in any language, side by side, through one coordinator on its own PostgreSQL: N no-op
tasks of each kind, one kind after the other:

  builtin      `sum`, run by the coordinator's own worker node (C++ compiled in)
  command      a declared type that runs /bin/true (one child process per task)
  http         a declared type POSTed to a local endpoint (bench/noop_worker --serve, C++)
  pull_cpp     a declared pull type, leased by bench/noop_worker (C++, 2 sessions x 64 slots)
  pull_python  the same, leased by 2 processes of the Python worker (clients/python, 16 each)

The tasks of a kind are stored first (batches of 1,000), then counted from the first submit to
the last completion: tasks/s, and CPU per task of tasker and, apart, of what runs the tasks
(the /bin/true children, the endpoint, the workers). Every run is bounded in time and stops by
itself.

    bench/declared.py [N]        (default 5000 per kind)

Environment: BENCH_OUT appends the JSON result line to this file; TASKER_BIN as for the tests
(default build/tasker); NOOP_WORKER_BIN (default build/bench/noop_worker, built with g++ when
missing or older than its source); BENCH_PYTHON, the interpreter for the Python workers
(default /usr/bin/python3, which has Debian's python3-httpx).
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))

import faults  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
KIND_TIMEOUT_S = int(os.environ.get("BENCH_KIND_TIMEOUT_S", "600"))

PY_WORKER = r"""
import sys
from tasker import Worker
w = Worker(sys.argv[1], token=sys.argv[3], name=sys.argv[2], concurrency=16, poll_ms=1000)
w.task("noop_pull")(lambda params, task: {})
w.run(grace=5)
"""


def cpu_s(pid, children=False):
    """User + system CPU seconds of a live process (with `children`: of its reaped children)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    i = 13 if children else 11  # utime, stime; cutime, cstime (fields 14..17, 1-based)
    return (int(fields[i]) + int(fields[i + 1])) / TICKS


def noop_worker_bin():
    path = os.environ.get("NOOP_WORKER_BIN") or os.path.join(ROOT, "build", "bench",
                                                             "noop_worker")
    src = os.path.join(HERE, "noop_worker.cpp")
    if not os.environ.get("NOOP_WORKER_BIN") and (
            not os.path.exists(path) or os.path.getmtime(src) > os.path.getmtime(path)):
        faults.log("building %s (g++ -O2)" % path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run(["g++", "-O2", "-std=c++17", "-pthread", "-o", path + ".tmp", src],
                       check=True)
        os.replace(path + ".tmp", path)
    return path


def finished(server):
    return faults.cluster(server)["task_manager"]["finished"]


def wait_workers(server, names, timeout=30):
    """Waits until /v1/workers lists every worker named."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = server.client(timeout=10)
        try:
            r = c.request("GET", "/v1/workers")
        finally:
            c.close()
        listed = r.body.get("workers", []) if r.status == 200 else []
        seen = {w.get("id") for w in listed} | {w.get("name") for w in listed}
        if all(any(str(s).startswith(n) for s in seen) for n in names):
            return
        time.sleep(0.1)
    raise faults.Failure("workers %s did not join within %d s" % (names, timeout))


def run_kind(server, kind, type_, params, n, runner_cpu):
    """Stores n tasks of `type_` and waits until they all ended; returns the row."""
    tasker_pid = server.proc.pid
    done0 = finished(server)
    cpu0 = cpu_s(tasker_pid)
    side0 = runner_cpu()
    t0 = time.monotonic()
    faults.submit_batches(server, n, lambda i: {"type": type_, "params": params}, chunk=1000)
    deadline = t0 + KIND_TIMEOUT_S
    while finished(server) < done0 + n:
        if time.monotonic() > deadline:
            raise faults.Failure("%s: %d of %d tasks finished within %d s"
                                 % (kind, finished(server) - done0, n, KIND_TIMEOUT_S))
        time.sleep(0.02)
    took = time.monotonic() - t0
    side = runner_cpu() - side0
    return {"kind": kind, "type": type_, "tasks": n, "seconds": round(took, 2),
            "tasks_per_s": round(n / took),
            "tasker_cpu_ms_per_task": round((cpu_s(tasker_pid) - cpu0) * 1000 / n, 3),
            "runner_cpu_ms_per_task": round(side * 1000 / n, 3)}


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main():
    # SIGTERM ends the run like an error: the processes it started stop with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    worker_bin = noop_worker_bin()
    python = os.environ.get("BENCH_PYTHON", "/usr/bin/python3")
    pg = faults.PrivatePg()
    procs = []
    server = None
    types_file = None
    try:
        endpoint = subprocess.Popen([worker_bin, "--serve", "0", "--max-seconds", "3600"],
                                    stdout=subprocess.PIPE, text=True)
        procs.append(endpoint)
        port = int(endpoint.stdout.readline())
        types = {"task_types": [
            {"name": "noop_cmd", "run": "command", "command": {"argv": ["/bin/true"]}},
            {"name": "noop_http", "run": "http",
             "http": {"url": "http://127.0.0.1:%d/" % port, "max_concurrency": 16}},
            {"name": "noop_pull", "run": "pull"},
        ]}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(types, f)
            types_file = f.name
        # (The coordinator has the suite's cluster secret: workers authenticate with it.)
        server = faults.coordinator(pg.database("declared"),
                                    {"TASKER_TASK_TYPES": types_file,
                                     "TASKER_LOCAL_SLOTS": "16"})
        server.start()
        url = "http://%s:%d" % (server.host, server.port)
        rows = [run_kind(server, "builtin", "sum", {"a": 1, "b": 2}, n, lambda: 0.0),
                run_kind(server, "command", "noop_cmd", {}, n,
                         lambda: cpu_s(server.proc.pid, children=True)),
                run_kind(server, "http", "noop_http", {}, n, lambda: cpu_s(endpoint.pid))]

        cpp = subprocess.Popen([worker_bin, "--url", url, "--type", "noop_pull",
                                "--sessions", "2", "--slots", "64", "--token", faults.SECRET, "--max-seconds",
                                str(KIND_TIMEOUT_S + 60)], stdout=subprocess.PIPE, text=True)
        procs.append(cpp)
        wait_workers(server, ["bench-cpp-0", "bench-cpp-1"])
        rows.append(run_kind(server, "pull_cpp", "noop_pull", {}, n, lambda: cpu_s(cpp.pid)))
        stop([cpp])
        faults.log("C++ worker: %s" % cpp.stdout.read().strip())

        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "clients", "python"))
        logs = [tempfile.TemporaryFile("w+") for _ in range(2)]
        workers = [subprocess.Popen([python, "-c", PY_WORKER, url, "bench-py-%d" % i,
                                     faults.SECRET], env=env, stderr=logs[i])
                   for i in range(2)]
        procs += workers
        wait_workers(server, ["bench-py-0", "bench-py-1"])
        try:
            rows.append(run_kind(server, "pull_python", "noop_pull", {}, n,
                                 lambda: sum(cpu_s(w.pid) for w in workers)))
        except Exception:
            for i, w in enumerate(workers):
                logs[i].seek(0)
                faults.log("Python worker %d (exit %s): %s"
                           % (i, w.poll(), logs[i].read()[-3000:]))
            raise
        stop(workers)

        print("%-12s %-10s %7s %9s %15s %15s" % ("kind", "type", "tasks", "tasks/s",
                                                  "tasker ms/task", "runner ms/task"))
        for r in rows:
            print("%-12s %-10s %7d %9d %15.3f %15.3f" % (
                r["kind"], r["type"], r["tasks"], r["tasks_per_s"],
                r["tasker_cpu_ms_per_task"], r["runner_cpu_ms_per_task"]))
        line = json.dumps({"bench": "declared", "rows": rows})
        print(line)
        if os.environ.get("BENCH_OUT"):
            with open(os.environ["BENCH_OUT"], "a") as out:
                out.write(line + "\n")
    except Exception:
        if server is not None:
            for line in [p for _, _, p in server.logs()
                         if p and (p.get("level") in ("warning", "error")
                             or "session" in p.get("message", ""))][-30:]:
                faults.log("tasker: %s" % json.dumps(line))
        raise
    finally:
        stop(procs)
        if server is not None:
            server.close()
        if types_file:
            os.unlink(types_file)
        pg.close()


if __name__ == "__main__":
    main()
