#!/usr/bin/env python3
"""Tasks in any language, side by side: N no-op tasks each of a built-in type (`sum`), a command
type (`/bin/true`), an HTTP type (POSTed to a local endpoint) and a pull type (leased by two
Python worker processes, clients/python), through one coordinator on its own PostgreSQL. Prints
for each: tasks/s from the first submit to the last completion, and CPU per task of tasker and,
apart, of what runs the task (the programs, the endpoint, the workers). Stops by itself.

    bench/declared.py [N]        (default 5000 per kind)

Environment: BENCH_OUT appends the JSON result line to this file; TASKER_BIN as for the tests.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))

import faults  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")

ENDPOINT = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""

WORKER = r"""
import sys
from tasker import Worker
w = Worker(sys.argv[1], name=sys.argv[2], concurrency=16, poll_ms=1000)
w.task("noop_pull")(lambda params, task: {})
w.run(grace=5)
"""


def cpu_s(pid, children=False):
    """User + system CPU seconds of a process (of its reaped children with `children`)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    i = 13 if children else 11  # utime, stime at 14, 15; cutime, cstime at 16, 17 (1-based)
    return (int(fields[i]) + int(fields[i + 1])) / TICKS


def finished(server):
    return faults.cluster(server)["task_manager"]["finished"]


def run_kind(server, type_, n, side_pids, children=False):
    tasker_pid = server.proc.pid
    done0 = finished(server)
    cpu0 = cpu_s(tasker_pid)
    side0 = (cpu_s(tasker_pid, children=True) if children
             else sum(cpu_s(p) for p in side_pids))
    t0 = time.monotonic()
    faults.submit_batches(server, n, lambda i: {"type": type_, "params": {"i": i}}, chunk=1000)
    deadline = t0 + 600
    while finished(server) < done0 + n:
        if time.monotonic() > deadline:
            raise faults.Failure("%s: not finished within 600 s" % type_)
        time.sleep(0.05)
    took = time.monotonic() - t0
    side = ((cpu_s(tasker_pid, children=True) if children
             else sum(cpu_s(p) for p in side_pids)) - side0)
    return {"type": type_, "tasks": n, "seconds": round(took, 2),
            "tasks_per_s": round(n / took),
            "tasker_cpu_ms_per_task": round((cpu_s(tasker_pid) - cpu0) * 1000 / n, 3),
            "runner_cpu_ms_per_task": round(side * 1000 / n, 3)}


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    pg = faults.PrivatePg()
    procs = []
    server = None
    types_file = None
    try:
        endpoint = subprocess.Popen([sys.executable, "-c", ENDPOINT], stdout=subprocess.PIPE,
                                    text=True)
        procs.append(endpoint)
        port = int(endpoint.stdout.readline())
        types = {"task_types": [
            {"name": "noop_cmd", "params": {"additionalProperties": True}, "run": "command",
             "command": {"argv": ["/bin/true"]}},
            {"name": "noop_http", "params": {"additionalProperties": True}, "run": "http",
             "http": {"url": "http://127.0.0.1:%d/" % port, "max_concurrency": 8}},
            {"name": "noop_pull", "params": {"additionalProperties": True}, "run": "pull"},
        ]}
        f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(types, f)
        f.close()
        types_file = f.name
        server = faults.coordinator(pg.database("declared"),
                                    {"TASKER_TASK_TYPES": types_file,
                                     "TASKER_LOCAL_SLOTS": "8",
                                     "TASKER_LOG_LEVEL": "warning"})
        server.start()
        url = "http://%s:%d" % (server.host, server.port)
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "clients", "python"))
        workers = [subprocess.Popen([sys.executable, "-c", WORKER, url, "bench-%d" % i],
                                    env=env, stderr=subprocess.DEVNULL) for i in range(2)]
        procs += workers
        rows = [run_kind(server, "sum", n, []),
                run_kind(server, "noop_cmd", n, [], children=True),
                run_kind(server, "noop_http", n, [endpoint.pid]),
                run_kind(server, "noop_pull", n, [w.pid for w in workers])]
        print("%-10s %8s %10s %16s %16s" % ("type", "tasks", "tasks/s", "tasker ms/task",
                                            "runner ms/task"))
        for r in rows:
            print("%-10s %8d %10d %16.3f %16.3f" % (r["type"], r["tasks"], r["tasks_per_s"],
                                                    r["tasker_cpu_ms_per_task"],
                                                    r["runner_cpu_ms_per_task"]))
        line = json.dumps({"bench": "declared", "rows": rows})
        print(line)
        if os.environ.get("BENCH_OUT"):
            with open(os.environ["BENCH_OUT"], "a") as out:
                out.write(line + "\n")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        if server is not None:
            server.close()
        if types_file:
            os.unlink(types_file)
        pg.close()


if __name__ == "__main__":
    main()
