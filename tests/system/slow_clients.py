"""Hundreds of slow clients: 300 connections send their request head one byte every half
second (slow-header attack) while a normal client submits and reads tasks. The normal client is
served promptly throughout; each slow connection is answered 408 and closed once the header
timeout (2 s here) passes; then a burst of idle connections past max_connections is refused
(closed at once) without hurting the normal client.
"""

import http.client
import json
import selectors
import socket
import time

import faults
from faults import check, log

SLOW = 300
HEADER_TIMEOUT_MS = 2000


def main():
    db = faults.shared_database("system_slow")
    s = faults.coordinator(db, {"TASKER_LOCAL_SLOTS": "4",
                                "TASKER_HEADER_TIMEOUT_MS": str(HEADER_TIMEOUT_MS),
                                "TASKER_MAX_CONNECTIONS": "400"})
    s.start()
    slow = []
    try:
        rss = faults.RssSampler(s)
        head = b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        sel = selectors.DefaultSelector()
        for i in range(SLOW):
            c = socket.create_connection((s.host, s.port), timeout=5)
            c.setblocking(False)
            slow.append({"sock": c, "sent": 0, "closed_at": None, "answer": b""})
            sel.register(c, selectors.EVENT_READ, slow[-1])
        t0 = time.monotonic()
        client = http.client.HTTPConnection(s.host, s.port, timeout=10)
        ids, expected, slowest = [], {}, 0.0
        next_drip = t0
        n = 0
        while time.monotonic() - t0 < HEADER_TIMEOUT_MS / 1000.0 + 3.0:
            now = time.monotonic()
            if now >= next_drip:
                for c in slow:
                    if c["closed_at"] is None and c["sent"] < len(head):
                        try:
                            c["sock"].send(head[c["sent"]:c["sent"] + 1])
                            c["sent"] += 1
                        except OSError:
                            pass
                next_drip = now + 0.5
            for key, _ in sel.select(timeout=0):
                c = key.data
                try:
                    data = c["sock"].recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    c["answer"] += data
                else:
                    c["closed_at"] = time.monotonic() - t0
                    sel.unregister(c["sock"])
            # the normal client: a submit and a read, each timed
            n += 1
            body = {"type": "sum", "params": {"a": n, "b": 1}}
            t1 = time.monotonic()
            client.request("POST", "/v1/tasks", json.dumps(body),
                           {"Content-Type": "application/json"})
            r = client.getresponse()
            text = r.read()
            slowest = max(slowest, time.monotonic() - t1)
            check(r.status == 202, "normal submit got %d %s" % (r.status, text[:200]))
            tid = json.loads(text)["id"]
            ids.append(tid)
            expected[tid] = body
            time.sleep(0.02)
        closed = [c for c in slow if c["closed_at"] is not None]
        answered_408 = sum(c["answer"].startswith(b"HTTP/1.1 408") for c in slow)
        log("%d normal submits, slowest %.3f s; %d of %d slow clients closed, %d with 408"
            % (len(ids), slowest, len(closed), SLOW, answered_408))
        check(len(closed) == SLOW, "%d slow clients still open" % (SLOW - len(closed)))
        check(answered_408 == SLOW, "only %d slow clients got 408" % answered_408)
        latest = max(c["closed_at"] for c in closed)
        check(latest <= HEADER_TIMEOUT_MS / 1000.0 + 2.0,
              "a slow client was closed only after %.1f s" % latest)
        check(slowest < 2.0, "a normal request took %.2f s next to the slow clients" % slowest)
        # past max_connections: new connections are closed at once, the service stays up
        idle = []
        for _ in range(450):
            try:
                idle.append(socket.create_connection((s.host, s.port), timeout=5))
            except OSError:
                break
        time.sleep(0.5)
        refused = 0
        for c in idle:
            c.setblocking(False)
            try:
                if c.recv(1) == b"":
                    refused += 1
            except BlockingIOError:
                pass
            except OSError:
                refused += 1
        for c in idle:
            c.close()
        log("%d of %d connections past the limit were closed" % (refused, len(idle)))
        check(refused >= len(idle) - 400, "only %d connections refused" % refused)
        time.sleep(0.2)
        client = http.client.HTTPConnection(s.host, s.port, timeout=10)
        client.request("GET", "/health")
        check(client.getresponse().status == 200, "health after the connection burst")
        terminal, lost, dupes = faults.verify(s.db_url, ids, expected, timeout=60,
                                              terminal_logs=[s])
        peak = rss.stop()
        faults.report("slow_clients", len(ids), terminal, lost, dupes, peak, None,
                      {"slow_clients": SLOW, "closed_with_408": answered_408,
                       "last_closed_s": round(latest, 2), "slowest_normal_s": round(slowest, 3),
                       "refused_past_limit": refused},
                      rss_bound_mb=300)
    finally:
        for c in slow:
            c["sock"].close()
        s.close()


if __name__ == "__main__":
    faults.run(main)
