"""The database goes away under load: `pg_ctl stop -m immediate` for a few seconds (argument
`stop`, the default) or every PostgreSQL process frozen with SIGSTOP (argument `freeze`).

While it is gone: /ready answers 503 within a second; submits answer 503 with Retry-After
within the submit bound (2 s), never hang; a task held in memory still reads. When it is
back: every acknowledged task ends terminal exactly once (results that arrived meanwhile are
written then), and submits are accepted again.
"""

import http.client
import os
import signal
import sys
import threading
import time

import faults
from faults import check, log

OUTAGE_S = 4.0


def task(n):
    if n % 2 == 0:
        return {"type": "sleep", "params": {"ms": 30}}
    return {"type": "sum", "params": {"a": n, "b": 1}}


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "stop"
    check(mode in ("stop", "freeze"), "mode is stop or freeze")
    pg = faults.PrivatePg()
    s = None
    try:
        db = pg.database()
        s = faults.coordinator(db, {"TASKER_LOCAL_SLOTS": "8"})
        s.start()
        rss = faults.RssSampler(s)
        # A task that is running through the outage (read from memory meanwhile).
        held = s.submit("sleep", {"ms": int(OUTAGE_S * 1000) + 3000})["id"]
        load = faults.Load(s, threads=4, make_task=task, name="pg-" + mode)
        time.sleep(1.5)
        log("outage (%s) after %d acknowledged" % (mode, len(load.acked)))
        t_out = time.monotonic()
        if mode == "stop":
            pg.stop_immediate()
        else:
            pg.signal_all(signal.SIGSTOP)
        # /ready follows within a second
        not_ready_after = None
        while time.monotonic() - t_out < 5:
            if faults.ready_status(s) == 503:
                not_ready_after = time.monotonic() - t_out
                break
            time.sleep(0.02)
        # a submit gets its answer within the bound
        c = http.client.HTTPConnection(s.host, s.port, timeout=10)
        t0 = time.monotonic()
        c.request("POST", "/v1/tasks", '{"type": "sum", "params": {"a": 1, "b": 2}}',
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        probe_s = time.monotonic() - t0
        probe = (r.status, r.getheader("Retry-After"))
        # the running task reads from memory
        g = http.client.HTTPConnection(s.host, s.port, timeout=10)
        g.request("GET", "/v1/tasks/" + held)
        gr = g.getresponse()
        gr.read()
        held_read = gr.status
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - t_out)))
        t_back = time.monotonic()
        if mode == "stop":
            pg.start()
        else:
            pg.signal_all(signal.SIGCONT)
        ready_after = faults.wait_ready(s, 60)
        log("database back; ready again after %.2f s" % ready_after)
        n_back = len(load.acked)
        time.sleep(1.5)  # load goes on with the database back
        log("acknowledged while back: %d" % (len(load.acked) - n_back))
        load.stop()
        # a fresh submit is accepted again
        ok = s.submit("sum", {"a": 2, "b": 3})["id"]
        ids = load.ids() + [held, ok]
        expected = dict(load.expected)
        expected[ok] = {"type": "sum", "params": {"a": 2, "b": 3}}
        terminal, lost, dupes = faults.verify(s.db_url, ids, expected, timeout=120,
                                              terminal_logs=[s])
        peak = rss.stop()
        check(not_ready_after is not None and not_ready_after <= 1.0,
              "/ready still 200 %.1f s into the outage" % (not_ready_after or 5))
        check(probe[0] == 503 and probe[1], "submit during the outage: %s" % (probe,))
        check(probe_s <= 2.5, "submit during the outage took %.2f s" % probe_s)
        check(held_read == 200, "reading a task held in memory gave %d" % held_read)
        faults.check_codes(load, {200, 202, 503})
        check(load.slowest_s <= 3.0, "a submit took %.2f s" % load.slowest_s)
        check(load.codes[503] > 0, "no submit saw the outage: %s" % dict(load.codes))
        faults.report("pg_" + mode, len(ids), terminal, lost, dupes, peak,
                      ready_after,
                      {"not_ready_after_s": round(not_ready_after, 2),
                       "submit_503_s": round(probe_s, 2),
                       "slowest_submit_s": round(load.slowest_s, 2),
                       "codes": dict(load.codes)},
                      rss_bound_mb=300)
    finally:
        if s is not None:
            if os.environ.get("TASKER_SYSTEM_LOGS"):
                for _, line, p in s.logs():
                    if p is not None and p.get("level") in ("warning", "error"):
                        print(line[:400])
            s.close()
        pg.close()


if __name__ == "__main__":
    faults.run(main)
