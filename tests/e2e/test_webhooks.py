"""Webhooks (docs/API.md, "Webhooks"): a task submitted with callback_url has its terminal state
POSTed there at least once, signed with HMAC-SHA256, retried with back-off; the delivery state
shows in the task's history; a dead endpoint blocks nothing else; non-public addresses are
refused unless allowed."""

import hashlib
import hmac
import http.server
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

SECRET = "webhook-test-secret"


class Receiver:
    """An HTTP receiver on 127.0.0.1 that fails the first `fail` requests of each delivery."""

    def __init__(self, fail=0):
        self.requests = []
        self.fail = fail
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.requests.append((dict(self.headers), body))
                    delivery = self.headers["X-Tasker-Delivery"]
                    n = sum(1 for h, _ in outer.requests if h["X-Tasker-Delivery"] == delivery)
                status = 500 if n <= outer.fail else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, task_id):
        with self.lock:
            return [(h, b) for h, b in self.requests if json.loads(b)["task"]["id"] == task_id]

    def wait(self, task_id, n, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.of(task_id)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        return self.of(task_id)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class WebhookTest(TaskerTestCase):

    def start(self, **env):
        base = {"TASKER_WEBHOOK_SECRET": SECRET, "TASKER_WEBHOOK_ALLOW_PRIVATE": "1",
                "TASKER_WEBHOOK_RETRY_BASE_MS": "100", "TASKER_WEBHOOK_RETRY_MAX_MS": "200",
                "TASKER_WEBHOOK_TIMEOUT_MS": "2000"}
        base.update(env)
        s = start_server(extra_env=base, name="webhooks")
        self.addCleanup(s.close)
        return s

    def callbacks(self, s, task_id):
        return s.request("GET", "/v1/tasks/%s/events" % task_id).body["callbacks"]

    def wait_callback(self, s, task_id, state, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cb = self.callbacks(s, task_id)
            if cb and cb[-1]["state"] == state:
                return cb
            time.sleep(0.05)
        self.fail("delivery of %s not %s: %r" % (task_id, state, self.callbacks(s, task_id)))

    def test_a_receiver_that_fails_twice_gets_the_third_delivery_signed(self):
        receiver = Receiver(fail=2)
        self.addCleanup(receiver.close)
        s = self.start()
        task = s.submit("sum", {"a": 2, "b": 3}, callback_url=receiver.url)
        self.assertEqual(task["callback_url"], receiver.url)
        self.assertEqual(s.wait_terminal(task["id"])["status"], "COMPLETED")
        got = receiver.wait(task["id"], 3)
        self.assertEqual(len(got), 3)
        cb = self.wait_callback(s, task["id"], "delivered")
        self.assertEqual(len(cb), 1)
        self.assertEqual(cb[0]["attempts"], 3)
        self.assertEqual(cb[0]["last_status"], 200)
        self.assertIsNotNone(cb[0]["delivered_at"])
        self.assertEqual(cb[0]["url"], receiver.url)
        for i, (headers, body) in enumerate(got):
            want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            self.assertEqual(headers["X-Tasker-Signature"], want)
            self.assertEqual(headers["X-Tasker-Attempt"], str(i + 1))
            self.assertEqual(headers["X-Tasker-Delivery"], "%s-%d" % (task["id"], 2))
            self.assertEqual(headers["Content-Type"], "application/json")
        doc = json.loads(got[2][1])
        self.assertEqual(doc["delivery_id"], "%s-2" % task["id"])
        self.assertEqual(doc["event"]["kind"], "completed")
        self.assertEqual(doc["event"]["task_id"], task["id"])
        self.assertEqual(doc["task"]["status"], "COMPLETED")
        self.assertEqual(doc["task"]["result"], {"sum": 5})
        # Nothing more comes once delivered.
        time.sleep(0.5)
        self.assertEqual(len(receiver.of(task["id"])), 3)

    def test_a_dead_endpoint_blocks_nothing_and_fails_in_the_end(self):
        receiver = Receiver()
        self.addCleanup(receiver.close)
        s = self.start(TASKER_WEBHOOK_MAX_ATTEMPTS="4")
        dead = "http://127.0.0.1:%d/hook" % closed_port()
        doomed = [s.submit("sum", {"a": i, "b": 1}, callback_url=dead)["id"] for i in range(20)]
        live = s.submit("fail", {"message": "x", "retryable": False},
                        callback_url=receiver.url)["id"]
        self.assertEqual(s.wait_terminal(live)["status"], "FAILED")
        got = receiver.wait(live, 1, timeout=10)
        self.assertEqual(len(got), 1)
        self.assertEqual(json.loads(got[0][1])["event"]["kind"], "failed")
        for task_id in doomed:
            cb = self.wait_callback(s, task_id, "failed")
            self.assertEqual(cb[0]["attempts"], 4)
            self.assertIsNone(cb[0]["last_status"])
            self.assertTrue(cb[0]["last_error"])
        # A task without a callback has none.
        plain = s.submit("sum", {"a": 1, "b": 1})["id"]
        s.wait_terminal(plain)
        self.assertEqual(self.callbacks(s, plain), [])

    def test_non_public_addresses_are_refused_unless_allowed(self):
        receiver = Receiver()
        self.addCleanup(receiver.close)
        s = self.start(TASKER_WEBHOOK_ALLOW_PRIVATE="0", TASKER_WEBHOOK_MAX_ATTEMPTS="1")
        task_id = s.submit("sum", {"a": 1, "b": 1}, callback_url=receiver.url)["id"]
        s.wait_terminal(task_id)
        cb = self.wait_callback(s, task_id, "failed")
        self.assertIn("non-public", cb[0]["last_error"])
        self.assertEqual(receiver.of(task_id), [])

    def test_bad_callback_urls_are_refused(self):
        s = self.start()
        for url in ["ftp://example.com/x", "not a url", "http://", "/relative",
                    "http://user:pw@example.com/", "http://example.com/" + "x" * 2100, 42]:
            r = s.request("POST", "/v1/tasks", {"type": "sum", "params": {"a": 1, "b": 1},
                                                "callback_url": url})
            self.assertError(r, 422, "invalid_params")
            self.assertIn("callback_url", r.body["error"]["message"])
        # The callback is part of what an idempotency key stands for.
        body = {"type": "sum", "params": {"a": 1, "b": 1}, "callback_url": "http://a.example/"}
        r = s.request("POST", "/v1/tasks", body, headers={"Idempotency-Key": "hook-1"})
        self.assertEqual(r.status, 202, r.text)
        body["callback_url"] = "http://b.example/"
        r = s.request("POST", "/v1/tasks", body, headers={"Idempotency-Key": "hook-1"})
        self.assertError(r, 409, "conflict")


if __name__ == "__main__":
    unittest.main()
