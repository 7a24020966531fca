#!/usr/bin/python3
"""Celery's side of bench/compare: the same workloads and measures as node/drive.js.

    /usr/bin/python3 celery_drive.py WORKLOAD [--tasks N] [--producers P] [--rate R]
        [--seconds S] [--sleep-ms MS] [--slots K] [--cpu NAME=PID,...] [--timeout-s S]

Celery 5 (Debian's python3-celery) with Redis as its broker and no result backend. The worker is
`celery worker` started from here: the prefork pool with one process per core for no-op tasks,
the threads pool with K threads for tasks that sleep. Celery has no call that enqueues many
tasks at once, so there is no batch workload. Each worker process tells completions in batches:
every 20 ms it appends "completion time, latency" pairs to a Redis list that this script reads.
Prints one JSON line; LAT_OUT names a file for every latency (ms, a JSON array).
"""

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import redis
from celery import Celery

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
app = Celery("bench_compare", broker=REDIS_URL)
app.conf.update(task_ignore_result=True, worker_prefetch_multiplier=64,
                broker_pool_limit=64, worker_hijack_root_logger=False)

_done = []
_lock = threading.Lock()
_flusher = None


def _flush_forever():
    r = redis.Redis.from_url(REDIS_URL)
    while True:
        time.sleep(0.02)
        with _lock:
            batch = _done[:]
            del _done[:]
        if batch:
            r.rpush("bench:done", *batch)


@app.task(name="noop")
def noop(data):
    global _flusher
    if data.get("ms"):
        time.sleep(data["ms"] / 1000)
    t = time.time() * 1000
    with _lock:
        _done.append("%.3f,%.3f" % (t, t - data["t"]))
        if _flusher is None:    # one per worker process, started after the fork
            _flusher = threading.Thread(target=_flush_forever, daemon=True)
            _flusher.start()


def proc_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return int(fields[1]), int(fields[11]) + int(fields[12])
    except OSError:
        return None


def tree_ticks(pid):
    out = {}
    own = proc_ticks(pid)
    if own:
        out[pid] = own[1]
    for d in os.listdir("/proc"):
        if d.isdigit():
            p = proc_ticks(int(d))
            if p and p[0] == pid:
                out[int(d)] = p[1]
    return out


def summarize(xs):
    s = sorted(xs)
    if not s:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None}
    at = lambda p: s[min(len(s) - 1, int(p * len(s)))]
    return {"n": len(s), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": s[-1]}


def main():
    args = sys.argv[1:]
    o = {"workload": args[0], "tasks": 20000, "producers": 64, "rate": 1000, "seconds": 10,
         "sleep_ms": 0, "slots": 64, "cpu": [], "timeout_s": 300}
    for k, v in zip(args[1::2], args[2::2]):
        key = k.lstrip("-").replace("-", "_")
        if key == "cpu":
            o["cpu"] = [(n, int(p)) for n, p in (x.split("=") for x in v.split(",") if x)]
        elif key in o:
            o[key] = float(v) if key in ("rate", "seconds", "timeout_s") else int(v)
        else:
            sys.exit("unknown option " + k)

    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    pool = ["--pool", "threads", "--concurrency", str(o["slots"])] if o["sleep_ms"] else \
           ["--pool", "prefork", "--concurrency", str(os.cpu_count() or 2)]
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_drive", "worker", "-l", "warning",
         "--without-heartbeat", "--without-mingle", "--without-gossip", "-O", "fair"] + pool,
        cwd=os.path.dirname(os.path.abspath(__file__)),
        env=dict(os.environ, REDIS_URL=REDIS_URL))
    try:
        run(o, r, worker)
    finally:
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()


def run(o, r, worker):
    # Ready once a task goes round.
    deadline = time.time() + 60
    noop.delay({"t": time.time() * 1000})
    while r.llen("bench:done") < 1:
        if time.time() > deadline or worker.poll() is not None:
            sys.exit("celery worker did not start")
        time.sleep(0.05)
    r.delete("bench:done")

    cpu_list = o["cpu"] + [("workers", worker.pid)]
    cpu0 = [tree_ticks(pid) for _, pid in cpu_list]
    client0 = os.times()
    total = int(o["rate"] * o["seconds"]) if o["workload"] == "open" else o["tasks"]
    deadline = time.time() + o["timeout_s"]
    submit_lat = []
    errors = [0, None]
    t0 = time.time() * 1000

    def submit_one():
        ts = time.time() * 1000
        data = {"t": ts, "ms": o["sleep_ms"]} if o["sleep_ms"] else {"t": ts}
        try:
            noop.apply_async(args=[data])
            submit_lat.append(time.time() * 1000 - ts)
        except Exception as e:  # noqa: BLE001 - counted and reported
            errors[0] += 1
            errors[1] = errors[1] or str(e)

    if o["workload"] == "closed":
        claimed = [0]
        claim_lock = threading.Lock()

        def producer():
            while time.time() < deadline:
                with claim_lock:
                    if claimed[0] >= total:
                        return
                    claimed[0] += 1
                submit_one()
        threads = [threading.Thread(target=producer) for _ in range(o["producers"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elif o["workload"] == "open":
        with ThreadPoolExecutor(max_workers=o["producers"]) as ex:
            for i in range(total):
                due = t0 + i * 1000 / o["rate"]
                wait = due - time.time() * 1000
                if wait > 1:
                    time.sleep(wait / 1000)
                ex.submit(submit_one)
    else:
        sys.exit("unknown workload " + o["workload"])
    t_submitted = time.time() * 1000
    submitted = len(submit_lat)

    while time.time() < deadline and r.llen("bench:done") < submitted:
        time.sleep(0.005)
    cpu1 = [tree_ticks(pid) for _, pid in cpu_list]
    client1 = os.times()
    pairs = [tuple(map(float, x.split(b","))) for x in r.lrange("bench:done", 0, -1)]
    done = len(pairs)
    last = max((p[0] for p in pairs), default=t_submitted)
    if os.environ.get("LAT_OUT"):
        with open(os.environ["LAT_OUT"], "w") as f:
            json.dump([round(p[1], 3) for p in pairs], f)
    cpu = {}
    for (name, _), a, b in zip(cpu_list, cpu0, cpu1):
        cpu[name] = cpu.get(name, 0) + sum(t - a.get(pid, 0) for pid, t in b.items()) * 10.0
    cpu["client"] = ((client1.user + client1.system) - (client0.user + client0.system)) * 1000
    elapsed = (max(last, t_submitted) - t0) / 1000
    print(json.dumps({
        "system": "celery", "workload": o["workload"], "tasks": total, "submitted": submitted,
        "completed": done, "errors": errors[0], "first_error": errors[1],
        "timed_out": done < submitted, "producers": o["producers"], "batch": 1,
        "rate": o["rate"] if o["workload"] == "open" else None, "sleep_ms": o["sleep_ms"],
        "slots": o["slots"],
        "submit_rate": submitted / ((t_submitted - t0) / 1000),
        "e2e_rate": done / elapsed if elapsed > 0 else None, "elapsed_s": elapsed,
        "submit_ms": summarize(submit_lat), "latency_ms": summarize([p[1] for p in pairs]),
        "cpu_ms": cpu, "cpu_ms_per_task": {k: (v / done if done else None) for k, v in cpu.items()},
    }))
    sys.exit(1 if done < submitted or errors[0] else 0)


if __name__ == "__main__":
    main()
