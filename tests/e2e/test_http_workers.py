"""HTTP workers: sessions, leases, heartbeats, completion, failure, expiry, cancel, drain and
authentication, against a real tasker; a worker process killed with SIGKILL loses nothing."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

from harness import TaskerTestCase, start_server  # noqa: E402
from test_api import read_http_responses  # noqa: E402

TYPES = {"task_types": [
    {"name": "resize", "params": {"properties": {"n": {"type": "integer"},
                                                 "width": {"type": "integer", "default": 800}},
                                  "required": ["n"]},
     "max_attempts": 3, "run": "pull"},
]}
LEASE_TIMEOUT_MS = 1000


class Worker:
    """A minimal HTTP worker on its own connection (long polls block it)."""

    def __init__(self, server, token=None):
        self.server = server
        self.token = token
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=60)

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        text = r.read().decode()
        return r.status, (json.loads(text) if text else None)

    def open(self, types=("resize",), slots=4, name="py-worker"):
        status, body = self.call("POST", "/v1/workers/sessions",
                                 {"name": name, "task_types": list(types), "slots": slots})
        assert status == 201, (status, body)
        self.session, self.worker_id = body["session"], body["worker_id"]
        return body

    def lease(self, max_tasks=1, wait_ms=5000):
        status, body = self.call("POST", "/v1/workers/sessions/%s/lease" % self.session,
                                 {"max_tasks": max_tasks, "wait_ms": wait_ms})
        assert status == 200, (status, body)
        return body

    def lease_one(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tasks = self.lease(1, 2000)["tasks"]
            if tasks:
                return tasks[0]
        raise AssertionError("no task leased within %s s" % timeout)

    def complete(self, lease, result):
        return self.call("POST", "/v1/leases/%s/complete" % lease, {"result": result})

    def fail(self, lease, error, retryable=True):
        return self.call("POST", "/v1/leases/%s/fail" % lease,
                         {"error": error, "retryable": retryable})

    def heartbeat(self, lease, progress=None):
        return self.call("POST", "/v1/leases/%s/heartbeat" % lease,
                         None if progress is None else {"progress": progress})

    def close(self):
        self.conn.close()


def write_types():
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(TYPES, f)
    f.close()
    return f.name


class HttpWorkersTest(TaskerTestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.types_file = write_types()
        cls.server = start_server(extra_env={"TASKER_TASK_TYPES": cls.types_file,
                                             "TASKER_LEASE_TIMEOUT_MS": str(LEASE_TIMEOUT_MS)},
                                  name="http_workers")

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.close()
        os.unlink(cls.types_file)

    def setUp(self):
        self.worker = Worker(self.server)
        self.worker.open()

    def tearDown(self):
        # (A session left open would take tasks until it expires.)
        self.worker.call("DELETE", "/v1/workers/sessions/%s" % self.worker.session)
        self.worker.close()

    def submit(self, n, **fields):
        return self.server.submit("resize", {"n": n}, **fields)["id"]

    def test_lease_heartbeat_complete(self):
        tid = self.submit(1)
        t = self.worker.lease_one()
        # The worker gets the defaults; the task keeps its params as submitted.
        self.assertEqual((t["id"], t["type"], t["params"], t["attempt"]),
                         (tid, "resize", {"n": 1, "width": 800}, 1))
        self.assertEqual(self.server.get_task(tid)["params"], {"n": 1})
        self.assertEqual(self.worker.heartbeat(t["lease"]), (200, {"cancelled": False}))
        self.assertIsNone(self.server.get_task(tid)["progress"])
        # Progress goes with a heartbeat; clients see the latest while the task runs.
        for done in (1, 3):
            self.assertEqual(self.worker.heartbeat(t["lease"], {"done": done, "of": 10}),
                             (200, {"cancelled": False}))
        deadline = time.monotonic() + 5
        while self.server.get_task(tid)["progress"] != {"done": 3, "of": 10}:
            self.assertLess(time.monotonic(), deadline, self.server.get_task(tid))
            time.sleep(0.05)
        self.assertEqual(self.server.get_task(tid)["status"], "PROCESSING")
        status, body = self.worker.complete(t["lease"], {"size": 2})
        self.assertEqual(status, 200, body)
        done = self.server.wait_terminal(tid, 20)
        self.assertEqual(done["status"], "COMPLETED", done)
        self.assertEqual(done["result"], {"size": 2})
        self.assertIsNone(done["progress"])
        self.assertEqual(done["worker_id"], self.worker.worker_id)
        # The session is a worker node like any other.
        workers = self.server.request("GET", "/v1/workers").body["workers"]
        mine = [w for w in workers if w["id"] == self.worker.worker_id]
        self.assertEqual(len(mine), 1, workers)
        self.assertEqual(mine[0]["address"], "http")
        self.assertEqual(mine[0]["task_types"], ["resize"])
        # A second completion of the same lease changes nothing.
        status, body = self.worker.complete(t["lease"], {"size": 3})
        self.assertEqual(status, 409, body)
        self.assertEqual(self.server.get_task(tid)["result"], {"size": 2})

    def test_pipelined_completions_are_all_answered(self):
        # Workers that write the completions of each lease in one go: the answers come back
        # within a turn of the gateway's event loop, so it stops and resumes reading their
        # connections in quick succession, again and again, and must never stop for good (it
        # once did, with a completion left unread).
        n, slots = 4000, 64
        batch = {"tasks": [{"type": "resize", "params": {"n": i}} for i in range(1000)]}
        for _ in range(n // 1000):
            r = self.server.request("POST", "/v1/tasks/batch", batch)
            self.assertEqual(r.status, 202, r.text)
        host = ("%s:%d" % (self.server.host, self.server.port)).encode()
        body = b'{"result": {}}'
        answers, failures = [], []

        def work(name):
            w = Worker(self.server)
            try:
                w.open(slots=slots, name=name)
                sock = socket.create_connection((self.server.host, self.server.port),
                                                timeout=10)
                deadline = time.monotonic() + 60
                while sum(answers) < n and time.monotonic() < deadline:
                    tasks = w.lease(slots, 200)["tasks"]
                    if not tasks:
                        continue
                    sock.sendall(b"".join(
                        b"POST /v1/leases/" + t["lease"].encode() + b"/complete HTTP/1.1\r\n"
                        b"Host: " + host + b"\r\nContent-Type: application/json\r\n"
                        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                        for t in tasks))
                    resps = read_http_responses(sock, len(tasks), timeout=20)
                    answers.append(sum(1 for st, _, _ in resps if st == 200))
                sock.close()
                w.call("DELETE", "/v1/workers/sessions/%s" % w.session)
            except Exception as e:  # (reported by the test's thread)
                failures.append("%s: %r" % (name, e))
            finally:
                w.close()

        threads = [threading.Thread(target=work, args=("pipeliner-%d" % i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        self.assertEqual(failures, [])
        self.assertEqual(sum(answers), n)

    def test_a_long_poll_returns_when_a_task_comes(self):
        out = {}

        def poll():
            start = time.monotonic()
            out["body"] = self.worker.lease(1, 10000)
            out["took"] = time.monotonic() - start
        th = threading.Thread(target=poll)
        th.start()
        time.sleep(0.5)
        tid = self.submit(2)
        th.join(15)
        self.assertEqual([t["id"] for t in out["body"]["tasks"]], [tid])
        self.assertLess(out["took"], 8)
        self.worker.complete(out["body"]["tasks"][0]["lease"], None)
        # Nothing to lease and no wait: an empty answer at once.
        self.assertEqual(self.worker.lease(1, 0)["tasks"], [])
        # A long poll longer than the lease timeout keeps the session.
        self.assertEqual(self.worker.lease(1, LEASE_TIMEOUT_MS + 1000)["tasks"], [])
        self.assertEqual(self.worker.lease(1, 0)["tasks"], [])

    def test_an_expired_lease_runs_again_and_its_late_completion_is_refused(self):
        tid = self.submit(3)
        first = self.worker.lease_one()
        # The worker goes on polling, but never heartbeats the lease: it
        # expires, and the task comes back as attempt 2.
        start = time.monotonic()
        again = self.worker.lease_one()
        self.assertGreaterEqual(time.monotonic() - start, LEASE_TIMEOUT_MS / 1000 - 0.3)
        self.assertEqual((again["id"], again["attempt"]), (tid, 2))
        status, body = self.worker.complete(first["lease"], {"late": True})
        self.assertEqual(status, 409, body)
        self.assertEqual(body["error"]["code"], "conflict")
        self.assertEqual(self.worker.complete(again["lease"], {"late": False})[0], 200)
        done = self.server.wait_terminal(tid, 20)
        self.assertEqual((done["status"], done["attempts"], done["result"]),
                         ("COMPLETED", 2, {"late": False}))

    def test_failures_retry_or_not_as_the_worker_says(self):
        tid = self.submit(4)
        t = self.worker.lease_one()
        self.assertEqual(self.worker.fail(t["lease"], "busy, try later")[0], 200)
        t = self.worker.lease_one()
        self.assertEqual(t["attempt"], 2)
        self.assertEqual(self.worker.fail(t["lease"], "bad image", retryable=False)[0], 200)
        done = self.server.wait_terminal(tid, 20)
        self.assertEqual((done["status"], done["attempts"], done["error"]),
                         ("FAILED", 2, "bad image"))

    def test_a_cancel_reaches_the_worker_at_its_next_heartbeat(self):
        tid = self.submit(5)
        t = self.worker.lease_one()
        r = self.server.request("POST", "/v1/tasks/%s/cancel" % tid)
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.body["status"], "CANCELLED")
        self.assertEqual(self.worker.heartbeat(t["lease"]), (200, {"cancelled": True}))
        status, body = self.worker.complete(t["lease"], {"too": "late"})
        self.assertEqual(status, 409, body)
        self.assertEqual(self.server.get_task(tid)["status"], "CANCELLED")

    def test_heartbeats_do_not_keep_a_cancelled_lease(self):
        tid = self.submit(6)
        t = self.worker.lease_one()
        r = self.server.request("POST", "/v1/tasks/%s/cancel" % tid)
        self.assertEqual(r.status, 200, r.text)
        # A worker that heartbeats on and never stops still loses the lease: heartbeats no
        # longer extend it once the task is cancelled.
        deadline = time.monotonic() + 10 * LEASE_TIMEOUT_MS / 1000
        while True:
            status, body = self.worker.heartbeat(t["lease"], {"still": "going"})
            if status == 409:
                break
            self.assertEqual((status, body), (200, {"cancelled": True}))
            self.assertLess(time.monotonic(), deadline, "the cancelled lease is kept")
            time.sleep(LEASE_TIMEOUT_MS / 5000)
        task = self.server.get_task(tid)
        self.assertEqual((task["status"], task["progress"]), ("CANCELLED", None))

    def test_bad_requests_get_the_api_codes(self):
        status, body = self.worker.call("POST", "/v1/workers/sessions/%s/lease"
                                        % self.worker.session, {"max_tasks": 0})
        self.assertEqual((status, body["error"]["code"]), (422, "invalid_params"))
        status, body = self.worker.call("POST", "/v1/workers/sessions/no-such/lease", {})
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"))
        status, body = self.worker.complete("no-such.lease", 1)
        self.assertEqual((status, body["error"]["code"]), (409, "conflict"))
        status, body = self.worker.call("POST", "/v1/workers/sessions",
                                        {"name": "x", "task_types": ["nope"]})
        self.assertEqual((status, body["error"]["code"]), (422, "invalid_params"))
        self.assertEqual(body["error"]["message"], "task_types[0] is not a registered task type")
        status, body = self.worker.call("POST", "/v1/workers/sessions",
                                        {"name": "", "task_types": ["resize"]})
        self.assertEqual(status, 422, body)
        status, body = self.worker.call("POST", "/v1/workers/sessions", [1, 2])
        self.assertEqual(status, 422, body)
        status, body = self.worker.call("POST", "/v1/leases/%s.x/fail" % self.worker.session,
                                        {"retryable": "yes"})
        self.assertEqual(status, 422, body)
        status, body = self.worker.heartbeat("%s.x" % self.worker.session, "x" * 70000)
        self.assertEqual((status, body["error"]["code"]), (422, "invalid_params"))
        self.assertIn("progress must be at most 65536 bytes", body["error"]["message"])
        status, body = self.worker.call("POST", "/v1/leases/%s.x/heartbeat"
                                        % self.worker.session, {"progres": 1})
        self.assertEqual((status, body["error"]["code"]), (422, "invalid_params"))
        self.assertTrue(self.server.is_running())

    def test_drain_stops_the_session(self):
        status, _ = self.server.request("POST", "/v1/workers/%s/drain"
                                        % self.worker.worker_id)[:2]
        self.assertEqual(status, 202)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status, body = self.worker.call("POST", "/v1/workers/sessions/%s/lease"
                                            % self.worker.session, {"wait_ms": 0})
            if status == 404 or (status == 200 and body["draining"]):
                return
            time.sleep(0.1)
        self.fail("the session did not drain")

    def test_a_killed_worker_loses_nothing(self):
        ids = [self.submit(100 + i) for i in range(20)]
        # A worker process leases tasks, then dies without a word.
        script = textwrap.dedent("""
            import http.client, json, sys, time
            c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=30)
            def call(path, body):
                c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                r = c.getresponse()
                return json.loads(r.read())
            s = call("/v1/workers/sessions", {"name": "doomed", "task_types": ["resize"],
                                              "slots": 8})["session"]
            got = 0
            while got < 5:
                got += len(call("/v1/workers/sessions/%s/lease" % s,
                                {"max_tasks": 8, "wait_ms": 2000})["tasks"])
            print(got, flush=True)
            time.sleep(600)
        """)
        p = subprocess.Popen([sys.executable, "-c", script, self.server.host,
                              str(self.server.port)], stdout=subprocess.PIPE, text=True)
        try:
            leased = int(p.stdout.readline())
            self.assertGreaterEqual(leased, 5)
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait(10)
            p.stdout.close()
        # Another worker finishes every task: those of the dead one after
        # their leases ran out.
        done = set()
        deadline = time.monotonic() + 60
        while len(done) < len(ids) and time.monotonic() < deadline:
            for t in self.worker.lease(8, 1000)["tasks"]:
                self.assertEqual(self.worker.complete(t["lease"], {"n": t["params"]["n"]})[0],
                                 200)
                done.add(t["id"])
        self.assertEqual(done, set(ids))
        for tid in ids:
            t = self.server.wait_terminal(tid, 20)
            self.assertEqual(t["status"], "COMPLETED", t)


class HttpWorkerAuthTest(TaskerTestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.types_file = write_types()
        cls.server = start_server(extra_env={"TASKER_TASK_TYPES": cls.types_file,
                                             "TASKER_AUTH_TOKEN": "client-token",
                                             "TASKER_WORKER_TOKEN": "worker-token"},
                                  name="http_worker_auth")

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.close()
        os.unlink(cls.types_file)

    def test_workers_use_the_worker_token_and_clients_theirs(self):
        body = {"name": "w", "task_types": ["resize"]}
        for token in (None, "client-token", "wrong"):
            w = Worker(self.server, token)
            status, answer = w.call("POST", "/v1/workers/sessions", body)
            w.close()
            self.assertEqual(status, 401, (token, answer))
            self.assertIn("worker token", answer["error"]["message"])
        w = Worker(self.server, "worker-token")
        self.assertEqual(w.call("POST", "/v1/workers/sessions", body)[0], 201)
        # The worker token is not a client's.
        status, _ = w.call("GET", "/v1/tasks")
        self.assertEqual(status, 401)
        w.close()


if __name__ == "__main__":
    unittest.main()
