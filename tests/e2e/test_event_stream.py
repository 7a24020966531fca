"""The event stream (docs/API.md, "The event stream"): GET /v1/events sends every transition
as a Server-Sent Event, filtered by type, status and kind; a client that reconnects with
Last-Event-ID (after a disconnect, or after a `kill -9` of the coordinator) gets every event
after it exactly once, in order per task; keep-alive comments; a client that does not read is
dropped with a final event and never slows tasks down."""

import json
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import TaskerTestCase, start_server  # noqa: E402


class SSE:
    """A raw Server-Sent Events client: one GET /v1/events, read frame by frame."""

    def __init__(self, port, query="", last_event_id=None, timeout=10.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        head = "GET /v1/events%s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n" % (
            "?" + query if query else "")
        if last_event_id:
            head += "Last-Event-ID: %s\r\n" % last_event_id
        self.sock.sendall((head + "\r\n").encode())
        self.buf = b""
        self.status = None
        self.headers = ""
        self.closed = False

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
            raise EOFError("the server closed the stream")
        self.buf += data

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = "\n".join(lines[1:]).lower()
        return self.status

    def frame(self):
        """The next frame as (event name, id, data text, comments)."""
        while b"\n\n" not in self.buf:
            self._fill()
        raw, self.buf = self.buf.split(b"\n\n", 1)
        name, ident, data, comments = "message", None, [], []
        for line in raw.decode().split("\n"):
            if line.startswith(":"):
                comments.append(line[1:].strip())
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("id: "):
                ident = line[4:]
            elif line.startswith("data: "):
                data.append(line[6:])
        return name, ident, "\n".join(data), comments

    def events(self, until, deadline):
        """Reads events (parsed JSON) into a list until until(list) or the deadline."""
        out = []
        while not until(out):
            if time.monotonic() > deadline:
                break
            name, ident, data, _ = self.frame()
            if name == "message" and data:
                ev = json.loads(data)
                assert ev["id"] == ident, (ev, ident)
                out.append(ev)
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class EventStreamTest(TaskerTestCase):

    server = None

    def start(self, **env):
        base = {"TASKER_RETRY_BASE_MS": "50", "TASKER_RETRY_MAX_MS": "100",
                "TASKER_LOCAL_SLOTS": "8", "TASKER_EVENTS_POLL_MS": "20"}
        base.update(env)
        self.server = start_server(extra_env=base, name="events")
        self.addCleanup(self.server.close)
        return self.server

    def open(self, **kw):
        c = SSE(self.server.port, **kw)
        self.addCleanup(c.close)
        self.assertEqual(c.read_head(), 200)
        self.assertIn("content-type: text/event-stream", c.headers)
        # The first frame tells an EventSource when to reconnect.
        name, ident, data, comments = c.frame()
        self.assertEqual((ident, data), (None, ""))
        return c

    def test_live_events_filters_and_resume_after_a_disconnect(self):
        s = self.start()
        everything = self.open()
        done_only = self.open(query="kind=completed,failed&type=sum,fail")
        ids = [s.submit("sum", {"a": i, "b": 1})["id"] for i in range(5)]
        failing = s.submit("fail", {"message": "no"}, max_attempts=2)["id"]
        ids.append(failing)
        for task_id in ids:
            s.wait_terminal(task_id)
        deadline = time.monotonic() + 15
        evs = everything.events(lambda out: sum(e["status"] in ("COMPLETED", "FAILED")
                                                for e in out) >= 6, deadline)
        by_task = {}
        for e in evs:
            by_task.setdefault(e["task_id"], []).append(e)
        self.assertEqual(sorted(by_task), sorted(ids))
        for task_id in ids[:5]:
            self.assertEqual([e["kind"] for e in by_task[task_id]],
                             ["submitted", "started", "completed"])
        self.assertEqual([e["kind"] for e in by_task[failing]],
                         ["submitted", "started", "retry_scheduled", "started", "failed"])
        # The stream is the history: the same events, the same ids.
        for task_id in ids:
            h = s.request("GET", "/v1/tasks/%s/events" % task_id).body
            self.assertEqual([e["id"] for e in h["events"]],
                             [e["id"] for e in by_task[task_id]])
        got = done_only.events(lambda out: len(out) >= 6, deadline)
        self.assertEqual(sorted(e["task_id"] for e in got), sorted(ids))
        self.assertEqual({e["kind"] for e in got}, {"completed", "failed"})
        # Resume after the third event: everything after it, once, in order.
        resumed = self.open(last_event_id=evs[2]["id"])
        again = resumed.events(lambda out: len(out) >= len(evs) - 3, deadline)
        self.assertEqual([e["id"] for e in again], [e["id"] for e in evs[3:]])
        # The parameter serves clients that cannot set the header; a status filter.
        resumed = self.open(query="status=FAILED&last_event_id=" + evs[0]["id"])
        failed = resumed.events(lambda out: len(out) >= 1, deadline)
        self.assertEqual([(e["task_id"], e["kind"]) for e in failed], [(failing, "failed")])

    def test_every_transition_exactly_once_across_a_kill_9(self):
        s = self.start()
        seen = []
        errors = []
        stop = threading.Event()
        state = {"last": None, "reconnects": 0}

        def reader():
            # Reads the stream; reconnects with Last-Event-ID after every break (a
            # disconnect of its own every 150 events, and the coordinator's kill -9).
            while not stop.is_set():
                c = None
                try:
                    c = SSE(s.port, last_event_id=state["last"], timeout=2.0)
                    c.read_head()
                    n = 0
                    while not stop.is_set():
                        name, ident, data, _ = c.frame()
                        if name == "message" and data:
                            ev = json.loads(data)
                            seen.append(ev)
                            state["last"] = ident
                            n += 1
                            if n == 150:
                                break
                except (OSError, EOFError, TypeError, IndexError, ValueError):
                    pass
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))
                    return
                finally:
                    if c is not None:
                        c.close()
                state["reconnects"] += 1
                time.sleep(0.05)

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        accepted = []
        for i in range(60):
            accepted.append(s.submit("sum", {"a": i, "b": 1})["id"])
        accepted += [s.submit("sleep", {"ms": 1500})["id"] for _ in range(4)]
        accepted.append(s.submit("fail", {"message": "x"}, max_attempts=3)["id"])
        time.sleep(0.5)
        s.kill9()
        s.restart()
        for i in range(60):
            accepted.append(s.submit("sum", {"a": i, "b": 2})["id"])
        for task_id in accepted:
            self.assertIn(s.wait_terminal(task_id, timeout=60)["status"],
                          ("COMPLETED", "FAILED"))
        # Every task's history, as the database holds it.
        want = {}
        for task_id in accepted:
            h = s.request("GET", "/v1/tasks/%s/events" % task_id).body
            want[task_id] = [e["id"] for e in h["events"]]
        total = sum(len(v) for v in want.values())
        deadline = time.monotonic() + 30
        while len(seen) < total and time.monotonic() < deadline and not errors:
            time.sleep(0.1)
        stop.set()
        t.join(5)
        self.assertEqual(errors, [])
        self.assertGreaterEqual(state["reconnects"], 2)
        got = {}
        for e in seen:
            got.setdefault(e["task_id"], []).append(e["id"])
        ids = [e["id"] for e in seen]
        self.assertEqual(len(ids), len(set(ids)), "an event came twice")
        for task_id in accepted:
            self.assertEqual(got.get(task_id), want[task_id], task_id)
            self.assertEqual([int(x.rsplit("-", 1)[1]) for x in want[task_id]],
                             list(range(len(want[task_id]))))
        self.assertEqual(len(seen), total)

    def test_keep_alives_and_bad_requests(self):
        s = self.start(TASKER_EVENT_KEEPALIVE_MS="200", TASKER_MAX_EVENT_STREAMS="2")
        c = self.open()
        # The stream first says where it starts: an id without data (the
        # newest event's position, or the empty one on an empty database).
        name, ident, data, comments = c.frame()
        self.assertEqual((name, data, comments), ("message", "", []))
        self.assertRegex(ident, r"^\d+-[0-9a-f-]{36}--?\d+$")
        name, ident, data, comments = c.frame()
        self.assertEqual(comments, ["keep-alive"])
        r = s.request("GET", "/v1/events", headers={"Last-Event-ID": "nonsense"})
        self.assertError(r, 400, "bad_request")
        r = s.request("GET", "/v1/events?status=DONE")
        self.assertError(r, 400, "bad_request")
        r = s.request("GET", "/v1/events?colour=red")
        self.assertError(r, 400, "bad_request")
        r = s.request("HEAD", "/v1/events")
        self.assertEqual(r.status, 200)
        self.assertIn("text/event-stream", r.headers["Content-Type"])
        self.open()
        r = s.request("GET", "/v1/events")
        self.assertError(r, 503, "unavailable")
        cluster = s.request("GET", "/v1/cluster").body["gateway"]
        self.assertEqual(cluster["event_streams"], 2)
        self.assertGreaterEqual(cluster["event_stream_refusals"], 1)

    def test_a_client_that_does_not_read_is_dropped_and_slows_nothing(self):
        s = self.start(TASKER_EVENT_BUFFER_BYTES="65536")
        stuck = SSE(s.port, rcvbuf=4096, timeout=30)
        self.addCleanup(stuck.close)
        reader = self.open()
        batch = {"tasks": [{"type": "sum", "params": {"a": i, "b": 1}} for i in range(1000)]}
        dropped = False
        for _ in range(12):
            t0 = time.monotonic()
            r = s.request("POST", "/v1/tasks/batch", batch)
            self.assertEqual(r.status, 202, r.text)
            self.assertLess(time.monotonic() - t0, 10)
            gw = s.request("GET", "/v1/cluster").body["gateway"]
            if gw["event_streams_dropped"] >= 1:
                dropped = True
                break
            time.sleep(0.5)
        self.assertTrue(dropped, "a client that never reads was not dropped")
        # The reader that reads is still served.
        got = reader.events(lambda out: len(out) >= 100, time.monotonic() + 10)
        self.assertGreaterEqual(len(got), 100)
        # The stuck client, read at last, ends with the final event.
        last = None
        try:
            while True:
                last = stuck.frame()
        except (EOFError, OSError):
            pass
        self.assertIsNotNone(last)
        self.assertEqual(last[0], "dropped", last)
        self.assertIn("last_event_id", json.loads(last[2]))


if __name__ == "__main__":
    unittest.main()
