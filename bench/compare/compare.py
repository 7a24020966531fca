#!/usr/bin/python3
"""tasker and its peers side by side, on one private PostgreSQL 15 and one Redis 7.

    bench/compare/run.sh            (installs what is missing, builds, then runs this)
    /usr/bin/python3 bench/compare/compare.py [--reps 3] [--only tasker,bullmq,...] [--out DIR]
        [--w6-tasks 20000] [--no-recovery] [--report DIR/DATE.jsonl]

Systems: tasker (from Node.js like the others, and with its own C++ loadgen), BullMQ, pg-boss,
graphile-worker (npm, bench/compare/node) and Celery (Debian's python3-celery). Workloads, each
of no-op tasks unless said (node/drive.js and celery_drive.py measure them all the same way):

  W1   one task per request, 64 concurrent producers, end to end tasks/s
  W1b  batches of 1,000 per request, 2 producers, end to end tasks/s
  W2   `sleep 50 ms` x 2,000 on 100 slots, one per request: the ideal time (1 s) / the time
  W3   submit -> completed latency, open loop at half the system's W1 rate of the same round
  W4   open loop at 2,000 tasks/s: CPU per task of the system's processes and of the client
  W5   status reads (tasker only: GET /v1/tasks/{id}, 64 connections, wrk)
  W6   once per run: 20,000 tasks stored, the process that runs them killed with SIGKILL once a
       tenth are done, then started again: time to ready, to the first completion, to all done
  raw  PostgreSQL's ceiling for the durable writes a task needs (node/raw.js)

Each round runs every system once; the results file gives medians over the rounds and every
round's figures. Writes DIR/DATE.md, DATE-*.png and DATE.jsonl (DIR: bench/results). Every step
has a time bound; everything started here is stopped at the end, and on SIGINT or SIGTERM.
"""

import argparse
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NODE_DIR = os.path.join(HERE, "node")
SYSTEMS = ["tasker", "tasker_loadgen", "bullmq", "pgboss", "graphile", "celery"]
LABELS = {"tasker": "tasker (Node.js client)", "tasker_loadgen": "tasker (C++ loadgen)",
          "bullmq": "BullMQ", "pgboss": "pg-boss", "graphile": "graphile-worker",
          "celery": "Celery"}
# Tasks per closed run: enough for several seconds of each system at its pace.
W1_TASKS = {"tasker": 20000, "tasker_loadgen": 20000, "bullmq": 20000, "pgboss": 10000,
            "graphile": 4000, "celery": 6000}
W1B_TASKS = {"tasker": 20000, "bullmq": 20000, "pgboss": 10000, "graphile": 6000}
W6_TASKS = 20000
W6_TIMEOUT_S = 120
W4_RATE = 2000
W4_SECONDS = 5
W3_SECONDS = 8

started = []   # (name, Popen) to stop at the end


def git_commit():
    p = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    dirty = subprocess.run(["git", "-C", ROOT, "diff", "--quiet", "HEAD", "--", "."],
                           stderr=subprocess.DEVNULL).returncode != 0
    out = p.stdout.decode().strip() or "unknown"
    return out + (" with uncommitted changes" if dirty and out != "unknown" else "")


COMMIT = git_commit()


def log(*args):
    print("[compare %s]" % time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def stop_all():
    for name, p in reversed(started):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    started.clear()


def on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url, sql):
    subprocess.run(["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL, timeout=120)


class Services:
    """PostgreSQL (scripts/pg.sh), Redis and a tasker coordinator, all private to this run."""

    def __init__(self, tmp, tasker_bin):
        self.tmp = tmp
        port = free_port()
        self.pg_dir = os.path.join(tmp, "pg")
        out = subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "start", self.pg_dir,
                              str(port)], stdout=subprocess.PIPE, check=True, timeout=120)
        self.pg_url = out.stdout.decode().strip()
        with open(os.path.join(self.pg_dir, "data", "postmaster.pid")) as f:
            self.pg_pid = int(f.readline())
        self.db = {}
        for name in ("tasker", "pgboss", "graphile", "raw"):
            psql(self.pg_url, "CREATE DATABASE bench_%s" % name)
            self.db[name] = re.sub(r"/[^/]*$", "/bench_" + name, self.pg_url)
        rport = free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp], stdout=open(os.path.join(tmp, "redis.log"), "w"),
            stderr=subprocess.STDOUT)
        started.append(("redis", self.redis))
        self.redis_url = "redis://127.0.0.1:%d" % rport
        deadline = time.time() + 30
        while subprocess.run(["redis-cli", "-p", str(rport), "ping"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout.strip() != b"PONG":
            if time.time() > deadline:
                raise RuntimeError("redis-server did not answer within 30 s")
            time.sleep(0.1)
        self.rport = rport
        self.tasker_bin = tasker_bin
        self.tasker_log = os.path.join(tmp, "tasker.log")
        self.tasker, self.tasker_url = start_tasker(tasker_bin, self.db["tasker"],
                                                    self.tasker_log, 100)

    def close(self):
        stop_all()
        subprocess.run([os.path.join(ROOT, "scripts", "pg.sh"), "stop", self.pg_dir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def flush_redis(self):
        subprocess.run(["redis-cli", "-p", str(self.rport), "flushall"], stdout=subprocess.DEVNULL,
                       check=True, timeout=30)

    def env(self, system):
        pg = {"pgboss": self.db["pgboss"], "graphile": self.db["graphile"]}.get(system,
                                                                               self.db["raw"])
        return dict(os.environ, PG_URL=pg, REDIS_URL=self.redis_url, TASKER_URL=self.tasker_url)

    def cpu_args(self, system):
        if system.startswith("tasker"):
            return "tasker=%d,postgres=%d" % (self.tasker.pid, self.pg_pid)
        if system in ("pgboss", "graphile"):
            return "postgres=%d" % self.pg_pid
        return "redis=%d" % self.redis.pid


def start_tasker(tasker_bin, db_url, log_path, slots):
    """A `tasker serve` on db_url with `slots` local slots, ready: (process, base URL)."""
    env = dict(os.environ, TASKER_DB_URL=db_url, TASKER_HTTP_HOST="127.0.0.1",
               TASKER_HTTP_PORT="0", TASKER_CLUSTER_PORT="0", TASKER_LOCAL_SLOTS=str(slots))
    with open(log_path, "a") as log_file:
        log_file.write("---- start ----\n")
    offset = os.path.getsize(log_path)
    proc = subprocess.Popen([tasker_bin, "serve"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(log_path, "a"))
    started.append(("tasker", proc))
    port = None
    deadline = time.time() + 120
    while port is None:
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("tasker did not start: see " + log_path)
        with open(log_path) as f:
            f.seek(offset)
            m = re.search(r'"message" *: *"listening".*?"port" *: *(\d+)', f.read())
        port = int(m.group(1)) if m else None
        time.sleep(0.02)
    url = "http://127.0.0.1:%d" % port
    while True:
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("tasker did not become ready: see " + log_path)
        time.sleep(0.02)


def tasker_completed(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(x) for x in
               re.findall(r"^tasker_tasks_completed_total(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.M))


def recover_tasker(svc, tmp, n):
    """W6 for tasker: n tasks stored, the coordinator killed with SIGKILL once a tenth are done,
    started again: seconds to ready (recovery done), to the first completion, until all done."""
    psql(svc.pg_url, "DROP DATABASE IF EXISTS bench_w6")
    psql(svc.pg_url, "CREATE DATABASE bench_w6")
    db = re.sub(r"/[^/]*$", "/bench_w6", svc.pg_url)
    log_path = os.path.join(tmp, "tasker-w6.log")
    # Stored with no slots, so that nothing runs before the worker starts (as for the peers).
    proc, url = start_tasker(svc.tasker_bin, db, log_path, 0)
    t0 = time.time()
    body = json.dumps({"tasks": [{"type": "sum", "params": {"a": 1, "b": 2}}] * 1000}).encode()
    for _ in range(0, n, 1000):
        req = urllib.request.Request(url + "/v1/tasks/batch", data=body, method="POST",
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
    stored_s = time.time() - t0
    proc.terminate()
    proc.wait(60)
    proc, url = start_tasker(svc.tasker_bin, db, log_path, 100)
    deadline = time.time() + 300
    while tasker_completed(url) < n / 10 and time.time() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait(30)
    at_kill = int(subprocess.run(["psql", db, "-X", "-A", "-t", "-c",
                                  "SELECT count(*) FROM tasks WHERE status = 'COMPLETED'"],
                                 stdout=subprocess.PIPE, check=True).stdout)
    restarted = time.time()
    proc, url = start_tasker(svc.tasker_bin, db, log_path, 100)
    ready = time.time()
    first = None
    done = 0
    while done < n - at_kill and time.time() < deadline:
        done = tasker_completed(url)
        if done > 0 and first is None:
            first = time.time()
        time.sleep(0.05)
    end = time.time()
    total = int(subprocess.run(["psql", db, "-X", "-A", "-t", "-c",
                                "SELECT count(*) FROM tasks WHERE status = 'COMPLETED'"],
                               stdout=subprocess.PIPE, check=True).stdout)
    proc.terminate()
    proc.wait(60)
    return {"system": "tasker", "workload": "recover", "tasks": n, "stored_s": stored_s,
            "completed_at_kill": at_kill, "completed": total, "timed_out": total < n,
            "ready_s": ready - restarted,
            "first_completion_s": None if first is None else first - restarted,
            "all_done_s": end - restarted}


def run_json(cmd, env, timeout, cwd=None):
    """Runs a driver, returns its last JSON line (or None, logging why)."""
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        log("timed out after %d s: %s" % (timeout, " ".join(cmd)))
        return None
    lines = [l for l in p.stdout.decode(errors="replace").splitlines() if l.startswith("{")]
    if p.returncode != 0 or not lines:
        log("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd),
                                     p.stderr.decode(errors="replace")[-1500:]))
    return json.loads(lines[-1]) if lines else None


def drive(svc, system, workload, extra, timeout=300, lat_out=None):
    env = svc.env(system)
    if lat_out:
        env["LAT_OUT"] = lat_out
    args = [workload, "--cpu", svc.cpu_args(system)] + [str(x) for x in extra]
    if system == "celery":
        cmd = ["/usr/bin/python3", os.path.join(HERE, "celery_drive.py")] + args
    else:
        cmd = ["node", os.path.join(NODE_DIR, "drive.js"), system] + args
    if system in ("bullmq", "celery"):
        svc.flush_redis()
    return run_json(cmd, env, timeout)


def loadgen(svc, loadgen_bin, tasks):
    cmd = [loadgen_bin, "--url", svc.tasker_url, "--tasks", str(tasks), "--connections", "64",
           "--wait-timeout-s", "120", "--progress-s", "0"]
    r = run_json(cmd, dict(os.environ), 180)
    if r is None:
        return None
    return {"system": "tasker_loadgen", "workload": "closed", "e2e_rate": r.get("e2e_rate_server"),
            "submit_rate": r.get("submit_rate"), "completed": r.get("completed")}


def status_reads(svc, tmp):
    """W5: wrk over 64 connections reading the tasks the earlier workloads stored."""
    with urllib.request.urlopen(svc.tasker_url + "/v1/tasks?limit=1000", timeout=30) as r:
        ids = [t["id"] for t in json.load(r)["tasks"]]
    script = os.path.join(tmp, "reads.lua")
    with open(script, "w") as f:
        f.write("local ids = {%s}\nlocal i = 0\nrequest = function()\n"
                "  i = i %% #ids + 1\n  return wrk.format('GET', '/v1/tasks/' .. ids[i])\nend\n"
                "done = function(summary, latency, requests)\n"
                "  io.write(string.format('JSON {\"requests\": %%d, \"errors\": %%d, "
                "\"p50_ms\": %%.3f, \"p99_ms\": %%.3f}\\n', summary.requests, "
                "summary.errors.status + summary.errors.connect + summary.errors.read + "
                "summary.errors.timeout, latency:percentile(50) / 1000, "
                "latency:percentile(99) / 1000))\nend\n"
                % ",".join('"%s"' % i for i in ids))
    p = subprocess.run(["wrk", "-t", "2", "-c", "64", "-d", "5s", "-s", script, svc.tasker_url],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    out = p.stdout.decode()
    m = re.search(r"^JSON (.*)$", out, re.M)
    rate = re.search(r"Requests/sec:\s*([0-9.]+)", out)
    if not m or not rate:
        log("wrk failed: " + out[-500:] + p.stderr.decode()[-500:])
        return None
    r = json.loads(m.group(1))
    r.update(system="tasker", workload="reads", rate=float(rate.group(1)))
    return r


def one_round(svc, rnd, systems, loadgen_bin, tmp, outdir, stamp):
    rows = []

    def add(r, name):
        if r is not None:
            r.update(round=rnd, name=name, commit=COMMIT)
            rows.append(r)
            log("%-5s %-15s %s" % (name, r.get("system"), summary_of(name, r)))
        return r

    raw = run_json(["node", os.path.join(NODE_DIR, "raw.js"), "--seconds", "5"],
                   svc.env("raw"), 120)
    add(raw, "raw")
    for system in systems:
        if system == "tasker_loadgen":
            add(loadgen(svc, loadgen_bin, W1_TASKS[system]), "W1")
            continue
        w1 = add(drive(svc, system, "closed", ["--tasks", W1_TASKS[system]]), "W1")
        if system != "celery":
            add(drive(svc, system, "closed", ["--tasks", W1B_TASKS[system], "--batch", 1000,
                                              "--producers", 2]), "W1b")
        add(drive(svc, system, "closed", ["--tasks", 2000, "--sleep-ms", 50, "--slots", 100]),
            "W2")
        if w1 and w1.get("e2e_rate"):
            rate = max(1, int(w1["e2e_rate"] / 2))
            lat_file = os.path.join(tmp, "latency-%s-%d.json" % (system, rnd))
            add(drive(svc, system, "open", ["--rate", rate, "--seconds", W3_SECONDS],
                      lat_out=lat_file), "W3")
        # A system slower than W4's rate runs it at 0.9 of its own W1 rate (the table says so).
        w4_rate = W4_RATE
        if w1 and w1.get("e2e_rate") and w1["e2e_rate"] < W4_RATE:
            w4_rate = max(1, int(0.9 * w1["e2e_rate"]))
        add(drive(svc, system, "open", ["--rate", w4_rate, "--seconds", W4_SECONDS]), "W4")
        if system == "tasker":
            add(status_reads(svc, tmp), "W5")
    return rows


def recovery_round(svc, tmp, systems, n):
    """W6, once per run: every system that can store tasks and run them elsewhere."""
    rows = []
    for system in systems:
        if system in ("tasker_loadgen", "celery"):
            continue
        if system == "tasker":
            try:
                r = recover_tasker(svc, tmp, n)
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                log("W6 tasker failed: %s" % e)
                r = None
        else:
            if system == "bullmq":
                svc.flush_redis()
            env = svc.env(system)
            r = run_json(["node", os.path.join(NODE_DIR, "drive.js"), system, "recover",
                          "--tasks", str(n), "--timeout-s", str(W6_TIMEOUT_S)],
                         env, W6_TIMEOUT_S + 120)
        if r is not None:
            r.update(round=1, name="W6", commit=COMMIT)
            rows.append(r)
            log("W6    %-15s %s" % (system, summary_of("W6", r)))
    return rows


def summary_of(name, r):
    if name == "W6":
        return "ready %.2f s, first completion %s s, all %d done %s" % (
            r["ready_s"], "–" if r["first_completion_s"] is None else
            "%.2f" % r["first_completion_s"], r["tasks"],
            "in %.1f s" % r["all_done_s"] if not r["timed_out"] else
            "NOT within %.0f s (%d left)" % (r["all_done_s"], r["tasks"] - r["completed"]))
    if name == "raw":
        return "%.0f tasks/s" % r["tasks_per_s"]
    if name == "W5":
        return "%.0f reads/s, p99 %.2f ms" % (r["rate"], r["p99_ms"])
    if name == "W2":
        return "share of ideal %.2f" % w2_share(r)
    if name == "W3":
        return "at %s/s p50 %.1f ms p99 %.1f ms" % (r["rate"], r["latency_ms"]["p50"] or -1,
                                                  r["latency_ms"]["p99"] or -1)
    if name == "W4":
        return "CPU per task %s" % {k: round(v, 3) for k, v in
                                    r["cpu_ms_per_task"].items() if v is not None}
    return "%.0f tasks/s e2e" % (r.get("e2e_rate") or 0)


def w2_share(r):
    ideal = 2000 * 50 / 100 / 1000
    return ideal / r["elapsed_s"] if r.get("elapsed_s") else 0


def system_cpu(r):
    return sum(v for k, v in r["cpu_ms_per_task"].items() if k != "client" and v is not None)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=0):
    return "–" if x is None else ("{:,.%df}" % nd).format(x)


def report(rows, systems, outdir, stamp, reps, tmp):
    def pick(name, system, f):
        return med([f(r) for r in rows if r["name"] == name and r["system"] == system])

    raw = pick("raw", "raw", lambda r: r["tasks_per_s"])
    table = []
    for s in systems:
        w1 = pick("W1", s, lambda r: r.get("e2e_rate"))
        table.append({
            "system": s,
            "w1": w1,
            "w1b": pick("W1b", s, lambda r: r.get("e2e_rate")),
            "w2": pick("W2", s, w2_share),
            "w3p50": pick("W3", s, lambda r: r["latency_ms"]["p50"]),
            "w3p99": pick("W3", s, lambda r: r["latency_ms"]["p99"]),
            "w3rate": pick("W3", s, lambda r: r["rate"]),
            "w4sys": pick("W4", s, system_cpu),
            "w4client": pick("W4", s, lambda r: r["cpu_ms_per_task"].get("client")),
            "w4rate": pick("W4", s, lambda r: r["rate"]),
            "w4detail": pick_detail(rows, s),
        })
    w5 = [r for r in rows if r["name"] == "W5"]
    bull = next((t["w1"] for t in table if t["system"] == "bullmq"), None)

    commits = sorted({r.get("commit", "unknown") for r in rows})
    md = ["# bench/compare: %s" % stamp, "",
          "Made by `bench/compare/run.sh` (%d rounds; medians) at tasker commit %s%s. Machine: "
          "%d cores, %s." % (reps, ", ".join(commits),
                             " (each row of `%s.jsonl` names its own)" % stamp
                             if len(commits) > 1 else "", os.cpu_count() or 0,
                             platform_line()), "",
          "The raw PostgreSQL ceiling (per task one insert and one completion update, each "
          "committed, batches of 1,000 over two connections): **%s tasks/s**." % fmt(raw), "",
          "| system | W1 one per request, e2e tasks/s | W1b batches of 1,000, e2e tasks/s "
          "| W2 sleep 50 ms, share of ideal | W3 latency at half load, p50 / p99 ms "
          "| W4 CPU per task at 2,000/s, system / client ms |",
          "|---|---|---|---|---|---|"]
    for t in table:
        w4_at = "" if t["w4rate"] in (None, W4_RATE) else " (at %s/s)" % fmt(t["w4rate"])
        w3 = "–" if t["w3p50"] is None else "%s / %s (at %s/s)" % (
            fmt(t["w3p50"], 1), fmt(t["w3p99"], 1), fmt(t["w3rate"]))
        w4 = "–" if t["w4sys"] is None else "%s / %s%s" % (
            fmt(t["w4sys"], 3), fmt(t["w4client"], 3), w4_at)
        md.append("| %s | %s | %s | %s | %s | %s |" % (
            LABELS[t["system"]], fmt(t["w1"]), fmt(t["w1b"]), fmt(t["w2"], 2), w3, w4))
    md += ["", "Ratios in this run:", ""]
    for t in table:
        if t["system"].startswith("tasker") and t["w1"]:
            if bull:
                md.append("- %s, W1: %.2f of BullMQ" % (LABELS[t["system"]], t["w1"] / bull))
            if raw:
                md.append("- %s, W1: %.2f of the raw ceiling" % (LABELS[t["system"]],
                                                                 t["w1"] / raw))
        if t["system"] == "tasker" and t["w1b"] and raw:
            md.append("- tasker, W1b: %.2f of the raw ceiling" % (t["w1b"] / raw))
    if w5:
        md += ["", "W5 status reads of tasker (wrk, 64 connections, 5 s): %s reads/s, p50 %s ms, "
               "p99 %s ms, %s errors." % (fmt(med([r["rate"] for r in w5])),
                                           fmt(med([r["p50_ms"] for r in w5]), 2),
                                           fmt(med([r["p99_ms"] for r in w5]), 2),
                                           fmt(med([r["errors"] for r in w5])))]
    w6 = [r for r in rows if r["name"] == "W6"]
    if w6:
        md += ["", "W6: %s tasks stored; the process that runs them killed with SIGKILL once a "
               "tenth are done, then started again (one run):" % fmt(w6[0]["tasks"]), "",
               "| system | ready after the restart | first completion | all done |",
               "|---|---|---|---|"]
        for r in w6:
            md.append("| %s | %.2f s | %s | %s |" % (
                LABELS[r["system"]], r["ready_s"],
                "–" if r["first_completion_s"] is None else "%.2f s" % r["first_completion_s"],
                "%.1f s" % r["all_done_s"] if not r["timed_out"] else
                "not within %.0f s: %s left" % (r["all_done_s"],
                                               fmt(r["tasks"] - r["completed"]))))
    md += ["", "W4 CPU per task by process (ms, medians):", ""]
    for t in table:
        if t["w4detail"]:
            md.append("- %s: %s" % (LABELS[t["system"]], ", ".join(
                "%s %.3f" % kv for kv in sorted(t["w4detail"].items()))))
    if tmp is None:   # --report: the plots of the run stay as they are
        plots = [p for p in (stamp + "-workloads.png", stamp + "-latency.png")
                 if os.path.exists(os.path.join(outdir, p))]
    else:
        plots = make_plots(table, outdir, stamp, systems, tmp)
    md += [""] + ["![%s](%s)" % (p, p) for p in plots]
    md += ["", "## Every round", "", "| round | workload | system | figure |", "|---|---|---|---|"]
    for r in rows:
        md.append("| %d | %s | %s | %s |" % (r["round"], r["name"], r.get("system"),
                                             summary_of(r["name"], r)))
    md += ["", "How each system is run and measured: `bench/compare/README.md`."]
    path = os.path.join(outdir, stamp + ".md")
    with open(path, "w") as f:
        f.write("\n".join(md) + "\n")
    return path


def pick_detail(rows, s):
    rs = [r for r in rows if r["name"] == "W4" and r["system"] == s]
    if not rs:
        return None
    keys = set().union(*(r["cpu_ms_per_task"].keys() for r in rs))
    return {k: med([r["cpu_ms_per_task"].get(k) for r in rs]) or 0 for k in keys}


def platform_line():
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
        return m.group(1).strip() if m else "unknown CPU"
    except OSError:
        return "unknown CPU"


def make_plots(table, outdir, stamp, systems, tmp):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is missing: no plots")
        return []
    out = []
    names = [LABELS[t["system"]] for t in table]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.5))
    for ax, key, title in zip(axes, ["w1", "w1b", "w2", "w4sys"],
                              ["W1 one per request (tasks/s)", "W1b batches of 1,000 (tasks/s)",
                               "W2 share of ideal", "W4 system CPU per task (ms)"]):
        vals = [t[key] for t in table]
        ax.barh(names, [v or 0 for v in vals],
                color=["#2b6cb0" if n.startswith("tasker") else "#999999" for n in names])
        ax.set_title(title, fontsize=10)
        ax.invert_yaxis()
        for i, v in enumerate(vals):
            text = "not run" if v is None else ("%.2f" % v) if v < 10 else "{:,.0f}".format(v)
            ax.text(v or 0, i, " " + text, va="center", fontsize=8)
    fig.tight_layout()
    p = stamp + "-workloads.png"
    fig.savefig(os.path.join(outdir, p), dpi=90)
    plt.close(fig)
    out.append(p)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for s in systems:
        files = sorted(f for f in os.listdir(tmp) if f.startswith("latency-%s-" % s))
        if not files:
            continue
        with open(os.path.join(tmp, files[len(files) // 2])) as f:
            lat = sorted(json.load(f))
        if lat:
            ax.plot(lat, [(i + 1) / len(lat) for i in range(len(lat))], label=LABELS[s])
    ax.set_xscale("log")
    ax.set_xlabel("submit -> completed (ms, log scale)")
    ax.set_ylabel("share of tasks")
    ax.set_title("W3 latency at half of each system's W1 rate")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    p = stamp + "-latency.png"
    fig.savefig(os.path.join(outdir, p), dpi=90)
    plt.close(fig)
    out.append(p)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default=",".join(SYSTEMS))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--tasker-bin", default=os.environ.get("TASKER_BIN",
                                                           os.path.join(ROOT, "build", "tasker")))
    ap.add_argument("--loadgen-bin", default=os.path.join(ROOT, "build", "bench", "loadgen"))
    ap.add_argument("--w6-tasks", type=int, default=W6_TASKS)
    ap.add_argument("--no-recovery", dest="recovery", action="store_false",
                    help="skip W6 (recovery after kill -9)")
    ap.add_argument("--report", metavar="JSONL",
                    help="only write the results file again from a run's DATE.jsonl")
    a = ap.parse_args()
    if a.report:
        with open(a.report) as f:
            rows = [json.loads(l) for l in f if l.strip()]
        stamp = os.path.basename(a.report).rsplit(".", 1)[0]
        seen = [s for s in SYSTEMS if any(r.get("system") == s for r in rows)]
        reps = max([r["round"] for r in rows if r["name"] != "W6"] or [0])
        print(open(report(rows, seen, os.path.dirname(os.path.abspath(a.report)), stamp, reps,
                          None)).read())
        return
    systems = [s for s in a.only.split(",") if s]
    for s in systems:
        if s not in SYSTEMS:
            sys.exit("unknown system %s (known: %s)" % (s, ", ".join(SYSTEMS)))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    os.makedirs(a.out, exist_ok=True)
    stamp = datetime.date.today().isoformat()
    tmp = tempfile.mkdtemp(prefix="tasker-compare-")
    os.chmod(tmp, 0o755)
    svc = Services(tmp, a.tasker_bin)
    rows = []
    try:
        for rnd in range(1, a.reps + 1):
            log("round %d of %d" % (rnd, a.reps))
            rows += one_round(svc, rnd, systems, a.loadgen_bin, tmp, a.out, stamp)
        if a.recovery:
            log("W6 (once)")
            rows += recovery_round(svc, tmp, systems, a.w6_tasks)
        svc.close()
        with open(os.path.join(a.out, stamp + ".jsonl"), "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        path = report(rows, systems, a.out, stamp, a.reps, tmp)
    finally:
        svc.close()
        subprocess.run(["rm", "-rf", tmp])
    print(open(path).read())


if __name__ == "__main__":
    main()
