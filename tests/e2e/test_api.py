"""End-to-end HTTP tests of the tasker API (docs/API.md) against a real server.

Needs env TASKER_TEST_PG_URL (skipped without it) and the built binary (build/tasker or
TASKER_BIN). Python 3 standard library only.
"""

import collections
import datetime
import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (ALL_STATUSES, NON_TERMINAL, TERMINAL, TIME_RE, UUID_RE,  # noqa: E402
                     TaskerTestCase, start_server)

TASK_FIELDS = ("id", "type", "status", "params", "result", "error", "priority", "attempts",
               "max_attempts", "timeout_ms", "idempotency_key", "worker_id", "created_at",
               "updated_at", "scheduled_at", "started_at", "completed_at")
TIME_FIELDS = ("created_at", "updated_at", "scheduled_at", "started_at", "completed_at")
BUILTIN_TYPES = {
    "sum": ("a", "b"),
    "text_stats": ("text", "top_n"),
    "sleep": ("ms",),
    "fail": ("message", "retryable"),
}
SEED_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
FAR_DELAY_MS = 600000  # keeps a task PENDING for the whole run


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def expected_text_stats(text, top_n=10):
    """The reference implementation of text_stats per API.md (ASCII inputs only)."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    counts = collections.Counter(words)
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n]
    return {"word_count": len(words), "unique_words": len(counts),
            "top_words": [{"word": w, "count": c} for w, c in top]}


def read_http_responses(sock, n, timeout):
    """Read n HTTP/1.1 responses from a raw socket (Content-Length or chunked bodies)."""
    buf = b""
    out = []
    deadline = time.monotonic() + timeout

    def fill():
        nonlocal buf
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("timed out after %d of %d pipelined responses; buffered: %r"
                                 % (len(out), n, buf[:300]))
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise AssertionError("timed out after %d of %d pipelined responses; buffered: %r"
                                 % (len(out), n, buf[:300]))
        if not chunk:
            raise AssertionError("connection closed after %d of %d pipelined responses"
                                 % (len(out), n))
        buf += chunk

    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            fill()
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                while b"\r\n" not in buf:
                    fill()
                size_line, buf = buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0].strip(), 16)
                while len(buf) < size + 2:
                    fill()
                body += buf[:size]
                buf = buf[size + 2:]
                if size == 0:
                    break
        else:
            length = int(headers.get("content-length", "0"))
            while len(buf) < length:
                fill()
            body, buf = buf[:length], buf[length:]
        out.append((status, headers, body))
    return out


class TaskAssertions:
    """Mixin with task-object checks (needs self.s = the server)."""

    def assertNamesField(self, err, field):
        msg = err["message"]
        self.assertRegex(msg, r"(?i)(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % re.escape(field),
                         "error message does not name the field %r: %r" % (field, msg))

    def assertJson(self, r):
        ctype = (r.headers.get("Content-Type") or "").lower()
        self.assertIn("application/json", ctype, "Content-Type %r for %s" % (ctype, r.text[:200]))

    def assertTaskShape(self, t):
        self.assertIsInstance(t, dict, "task is not an object: %r" % (t,))
        missing = [f for f in TASK_FIELDS if f not in t]
        self.assertFalse(missing, "task lacks fields %s: %s" % (missing, json.dumps(t)))
        self.assertRegex(t["id"], UUID_RE, "id is not a lower-case canonical UUID")
        self.assertIn(t["status"], ALL_STATUSES)
        self.assertIn(t["type"], BUILTIN_TYPES)
        self.assertIsInstance(t["params"], dict)
        for f in ("priority", "attempts", "max_attempts", "timeout_ms"):
            self.assertIsInstance(t[f], int, "%s is not an integer: %r" % (f, t[f]))
            self.assertNotIsInstance(t[f], bool)
        for f in TIME_FIELDS:
            if t[f] is not None:
                self.assertRegex(t[f], TIME_RE, "%s is not RFC 3339 UTC with ms: %r" % (f, t[f]))
        for f in ("created_at", "updated_at", "scheduled_at"):
            self.assertIsNotNone(t[f], "%s is null: %s" % (f, json.dumps(t)))
        self.assertLessEqual(parse_time(t["created_at"]), parse_time(t["updated_at"]))
        return t

    def assertCompleted(self, t, result=None):
        self.assertTaskShape(t)
        self.assertEqual(t["status"], "COMPLETED", json.dumps(t))
        self.assertIsNone(t["error"], json.dumps(t))
        self.assertGreaterEqual(t["attempts"], 1)
        self.assertIsNotNone(t["started_at"], json.dumps(t))
        self.assertIsNotNone(t["completed_at"], json.dumps(t))
        self.assertLessEqual(parse_time(t["started_at"]), parse_time(t["completed_at"]))
        self.assertIsInstance(t["worker_id"], str, json.dumps(t))
        self.assertTrue(t["worker_id"], json.dumps(t))
        if result is not None:
            self.assertEqual(t["result"], result, json.dumps(t))
        return t

    def submit_raw(self, body, headers=None):
        return self.s.request("POST", "/v1/tasks", body, headers=headers)

    def submit_ok(self, body, headers=None, status=202):
        r = self.submit_raw(body, headers)
        self.assertEqual(r.status, status, "submit %s -> %s %s" % (body, r.status, r.text[:500]))
        self.assertJson(r)
        self.assertTaskShape(r.body)
        return r.body

    def run_to_end(self, type_, params, timeout=20.0, **fields):
        body = {"type": type_, "params": params}
        body.update(fields)
        t = self.submit_ok(body)
        return self.s.wait_terminal(t["id"], timeout)

    def delayed(self, type_="sleep", params=None, **fields):
        body = {"type": type_, "params": params if params is not None else {"ms": 0},
                "delay_ms": FAR_DELAY_MS}
        body.update(fields)
        t = self.submit_ok(body)
        self.assertEqual(t["status"], "PENDING", json.dumps(t))
        self.assertEqual(t["attempts"], 0, json.dumps(t))
        return t

    def cancel_quietly(self, task_id):
        try:
            self.s.request("POST", "/v1/tasks/%s/cancel" % task_id)
        except Exception:
            pass


class ApiTest(TaskerTestCase, TaskAssertions):
    """The API on one shared server (fresh database)."""

    server = None
    SLOTS = 16

    @classmethod
    def setUpClass(cls):
        cls.server = start_server(extra_env={"TASKER_LOCAL_SLOTS": str(cls.SLOTS)}, name="api")

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.close()

    def setUp(self):
        self.s = self.server
        if not self.s.is_running():
            self.fail("server is not running (exit code %s)\n%s"
                      % (self.s.proc.returncode, self.s.log_tail()))

    # ------------------------------------------------------------------ submit
    def test_submit_sum_202_location_and_fields(self):
        r = self.submit_raw({"type": "sum", "params": {"a": 1, "b": 2}})
        self.assertEqual(r.status, 202, r.text)
        self.assertJson(r)
        t = self.assertTaskShape(r.body)
        loc = r.headers.get("Location")
        self.assertIsNotNone(loc, "no Location header")
        self.assertTrue(loc.endswith("/v1/tasks/" + t["id"]), "Location is %r" % loc)
        self.assertEqual(t["type"], "sum")
        self.assertEqual(t["params"], {"a": 1, "b": 2})
        self.assertIn(t["status"], ("PENDING", "PROCESSING", "COMPLETED"))
        # documented defaults
        self.assertEqual(t["priority"], 0)
        self.assertEqual(t["max_attempts"], 3)
        self.assertEqual(t["timeout_ms"], 60000)
        self.assertIsNone(t["idempotency_key"])
        done = self.s.wait_terminal(t["id"], 20)
        self.assertCompleted(done, {"sum": 3})
        self.assertEqual(done["attempts"], 1)
        self.assertEqual(done["id"], t["id"])
        self.assertEqual(done["created_at"], t["created_at"])
        self.assertLessEqual(parse_time(done["created_at"]), parse_time(done["started_at"]))
        # Location is readable
        g = self.s.request("GET", urllib.parse.urlsplit(loc).path)
        self.assertEqual(g.status, 200)
        self.assertEqual(g.body["id"], t["id"])

    def test_submit_sum_floats_and_negatives(self):
        self.assertCompleted(self.run_to_end("sum", {"a": 1.5, "b": 2.25}), {"sum": 3.75})
        self.assertCompleted(self.run_to_end("sum", {"a": -5, "b": 2}), {"sum": -3})

    def test_submit_content_type_with_charset(self):
        r = self.s.request("POST", "/v1/tasks",
                           raw=json.dumps({"type": "sum", "params": {"a": 2, "b": 2}}),
                           headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(r.status, 202, r.text)
        self.assertCompleted(self.s.wait_terminal(r.body["id"], 20), {"sum": 4})

    def test_submit_explicit_options_are_echoed(self):
        t = self.submit_ok({"type": "sum", "params": {"a": 1, "b": 1}, "priority": 7,
                            "max_attempts": 5, "timeout_ms": 12345})
        self.assertEqual((t["priority"], t["max_attempts"], t["timeout_ms"]), (7, 5, 12345))
        done = self.s.wait_terminal(t["id"], 20)
        self.assertCompleted(done, {"sum": 2})
        self.assertEqual((done["priority"], done["max_attempts"], done["timeout_ms"]),
                         (7, 5, 12345))

    def test_boundary_values_accepted(self):
        for field, value in (("priority", 0), ("priority", 9), ("max_attempts", 1),
                             ("max_attempts", 100), ("timeout_ms", 1),
                             ("timeout_ms", 86400000), ("delay_ms", 0)):
            with self.subTest(field=field, value=value):
                t = self.submit_ok({"type": "sleep", "params": {"ms": 0}, field: value})
                if field != "delay_ms":
                    self.assertEqual(t[field], value)

    # ------------------------------------------------------------------ built-in types
    def test_text_stats_api_example(self):
        done = self.run_to_end("text_stats", {"text": "the cat and the hat", "top_n": 3})
        self.assertCompleted(done, {"word_count": 5, "unique_words": 4, "top_words": [
            {"word": "the", "count": 2}, {"word": "and", "count": 1}, {"word": "cat", "count": 1}]})

    def test_text_stats_rules(self):
        text = "The cat and the hat. The HAT's cat! don't 42 42\n\tend-of-line"
        with self.subTest(top_n=3):
            want = expected_text_stats(text, 3)
            # sanity of the reference: ties ordered by word, digits and apostrophes kept
            self.assertEqual(want["top_words"], [{"word": "the", "count": 3},
                                                 {"word": "42", "count": 2},
                                                 {"word": "cat", "count": 2}])
            self.assertCompleted(self.run_to_end("text_stats", {"text": text, "top_n": 3}), want)
        with self.subTest(top_n="default 10"):
            want = expected_text_stats(text, 10)
            self.assertEqual(want["word_count"], 14)
            self.assertCompleted(self.run_to_end("text_stats", {"text": text}), want)
        with self.subTest(text="empty"):
            self.assertCompleted(self.run_to_end("text_stats", {"text": ""}),
                                 {"word_count": 0, "unique_words": 0, "top_words": []})
        with self.subTest(text="punctuation only"):
            self.assertCompleted(self.run_to_end("text_stats", {"text": " ,.;!? -- "}),
                                 {"word_count": 0, "unique_words": 0, "top_words": []})
        with self.subTest(top_n=1):
            self.assertCompleted(self.run_to_end("text_stats", {"text": "b a b a c", "top_n": 1}),
                                 expected_text_stats("b a b a c", 1))

    def test_text_stats_validation(self):
        for params, field in (({"text": "x", "top_n": 0}, "top_n"),
                              ({"text": "x", "top_n": 101}, "top_n"),
                              ({"text": "x", "top_n": "3"}, "top_n"),
                              ({"text": 42}, "text"),
                              ({}, "text")):
            with self.subTest(params=params):
                err = self.assertError(self.submit_raw({"type": "text_stats", "params": params}),
                                       422, "invalid_params")
                self.assertNamesField(err, field)
        for n in (1, 100):
            self.submit_ok({"type": "text_stats", "params": {"text": "a", "top_n": n}})

    def test_sleep(self):
        self.assertCompleted(self.run_to_end("sleep", {"ms": 100}), {"slept_ms": 100})
        self.assertCompleted(self.run_to_end("sleep", {"ms": 0}), {"slept_ms": 0})

    def test_sleep_validation(self):
        for ms in (-1, 3600001, "10", None):
            with self.subTest(ms=ms):
                err = self.assertError(self.submit_raw({"type": "sleep", "params": {"ms": ms}}),
                                       422, "invalid_params")
                self.assertNamesField(err, "ms")

    def test_sum_validation(self):
        for params, field in (({"a": 1}, "b"), ({"b": 1}, "a"), ({"a": "1", "b": 2}, "a"),
                              ({"a": 1, "b": None}, "b"), ({"a": [1], "b": 2}, "a")):
            with self.subTest(params=params):
                err = self.assertError(self.submit_raw({"type": "sum", "params": params}),
                                       422, "invalid_params")
                self.assertNamesField(err, field)

    def test_fail_retries_until_failed(self):
        msg = "boom-" + uuid.uuid4().hex
        done = self.run_to_end("fail", {"message": msg}, max_attempts=3)
        self.assertTaskShape(done)
        self.assertEqual(done["status"], "FAILED", json.dumps(done))
        self.assertEqual(done["attempts"], 3, json.dumps(done))
        self.assertEqual(done["attempts"], done["max_attempts"])
        self.assertEqual(done["error"], msg)
        self.assertIsNone(done["result"])
        self.assertIsNotNone(done["completed_at"])

    def test_fail_not_retryable_fails_after_one_attempt(self):
        msg = "fatal-" + uuid.uuid4().hex
        done = self.run_to_end("fail", {"message": msg, "retryable": False}, max_attempts=3)
        self.assertEqual(done["status"], "FAILED", json.dumps(done))
        self.assertEqual(done["attempts"], 1, json.dumps(done))
        self.assertEqual(done["error"], msg)

    def test_fail_validation(self):
        for params, field in (({}, "message"), ({"message": 5}, "message"),
                              ({"message": "m", "retryable": "no"}, "retryable")):
            with self.subTest(params=params):
                err = self.assertError(self.submit_raw({"type": "fail", "params": params}),
                                       422, "invalid_params")
                self.assertNamesField(err, field)

    def test_timeout_ms_bounds_an_attempt(self):
        t0 = time.monotonic()
        done = self.run_to_end("sleep", {"ms": 5000}, timeout=15, timeout_ms=150, max_attempts=2)
        elapsed = time.monotonic() - t0
        self.assertEqual(done["status"], "FAILED", json.dumps(done))
        self.assertEqual(done["attempts"], 2, json.dumps(done))
        self.assertIsInstance(done["error"], str)
        self.assertRegex(done["error"], r"(?i)time[sd]?[\s_-]*out",
                         "error does not mention the timeout: %r" % done["error"])
        self.assertLess(elapsed, 5.0, "two 150 ms attempts took %.1fs: the timeout did not "
                                      "cut the 5 s sleep short" % elapsed)

    # ------------------------------------------------------------------ validation
    def test_validation_errors_name_the_field(self):
        base = {"type": "sum", "params": {"a": 1, "b": 2}}
        cases = [
            ("priority", -1), ("priority", 10), ("priority", "high"), ("priority", True),
            ("max_attempts", 0), ("max_attempts", 101), ("max_attempts", "3"),
            ("timeout_ms", 0), ("timeout_ms", 86400001), ("timeout_ms", "60000"),
            ("delay_ms", -1), ("delay_ms", "soon"),
            ("run_at", "not-a-time"), ("run_at", 12345),
            ("idempotency_key", 42),
        ]
        for field, value in cases:
            with self.subTest(field=field, value=value):
                body = dict(base)
                body[field] = value
                err = self.assertError(self.submit_raw(body), 422, "invalid_params")
                self.assertNamesField(err, field)

    def test_unknown_type_and_missing_fields_422(self):
        cases = [
            ({"type": "no_such_type_%s" % uuid.uuid4().hex[:6], "params": {}}, "type"),
            ({"params": {"a": 1, "b": 2}}, "type"),
            ({"type": 7, "params": {"a": 1, "b": 2}}, "type"),
            ({"type": "sum"}, "params"),
            ({"type": "sum", "params": [1, 2]}, "params"),
            ({"type": "sum", "params": "a=1"}, "params"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                err = self.assertError(self.submit_raw(body), 422, "invalid_params")
                self.assertNamesField(err, field)

    def test_run_at_defers_first_attempt(self):
        when = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
        run_at = when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (when.microsecond // 1000)
        t = self.submit_ok({"type": "sleep", "params": {"ms": 0}, "run_at": run_at})
        try:
            self.assertEqual(t["status"], "PENDING")
            self.assertLess(abs((parse_time(t["scheduled_at"]) - when).total_seconds()), 1.0,
                            "scheduled_at %s is not run_at %s" % (t["scheduled_at"], run_at))
            time.sleep(0.3)
            self.assertEqual(self.s.get_task(t["id"])["status"], "PENDING")
        finally:
            self.cancel_quietly(t["id"])

    def test_delay_ms_defers_first_attempt(self):
        t = self.delayed()
        try:
            delta = parse_time(t["scheduled_at"]) - parse_time(t["created_at"])
            self.assertGreater(delta.total_seconds(), FAR_DELAY_MS / 1000.0 - 5, json.dumps(t))
            time.sleep(0.3)
            g = self.s.get_task(t["id"])
            self.assertEqual(g["status"], "PENDING")
            self.assertEqual(g["attempts"], 0)
        finally:
            self.cancel_quietly(t["id"])

    def test_malformed_json_400(self):
        for raw in ('{"type": "sum", "params": {"a": 1, "b": 2}', "{not json}", "",
                    '{"type": "sum"} trailing', "\xff\xfe"):
            with self.subTest(raw=raw):
                r = self.s.request("POST", "/v1/tasks", raw=raw.encode("latin-1"),
                                   headers={"Content-Type": "application/json"})
                self.assertError(r, 400, "bad_request")

    def test_json_that_is_not_an_object(self):
        for raw in ("[]", "42", '"sum"', "null"):
            with self.subTest(raw=raw):
                r = self.s.request("POST", "/v1/tasks", raw=raw,
                                   headers={"Content-Type": "application/json"})
                # valid JSON of the wrong shape: 422 (wrongly typed) or 400 are both defensible
                self.assertIn(r.status, (400, 422), r.text)
                self.assertError(r, r.status, "invalid_params" if r.status == 422
                                 else "bad_request")

    def test_non_json_content_type_415(self):
        body = json.dumps({"type": "sum", "params": {"a": 1, "b": 2}})
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
            with self.subTest(content_type=ctype):
                r = self.s.request("POST", "/v1/tasks", raw=body, headers={"Content-Type": ctype})
                self.assertError(r, 415, "unsupported_media_type")
        r = self.s.request("POST", "/v1/tasks/batch", raw=body,
                           headers={"Content-Type": "text/plain"})
        self.assertError(r, 415, "unsupported_media_type")

    # ------------------------------------------------------------------ ids and paths
    def test_malformed_id_400(self):
        for bad in ("not-a-uuid", "1234", "7f7c0b7e-2f1e-4a5b-9a43-0c0d2a1f6e1",
                    "7f7c0b7e2f1e4a5b9a430c0d2a1f6e11zz", "%20"):
            with self.subTest(id=bad):
                self.assertError(self.s.request("GET", "/v1/tasks/" + bad), 400, "bad_request")
                self.assertError(self.s.request("POST", "/v1/tasks/%s/cancel" % bad), 400,
                                 "bad_request")
                self.assertError(self.s.request("POST", "/v1/tasks/%s/retry" % bad), 400,
                                 "bad_request")

    def test_unknown_id_404(self):
        tid = str(uuid.uuid4())
        self.assertError(self.s.request("GET", "/v1/tasks/" + tid), 404, "not_found")
        self.assertError(self.s.request("GET", "/v1/tasks/%s?wait_ms=100" % tid), 404,
                         "not_found")
        self.assertError(self.s.request("POST", "/v1/tasks/%s/cancel" % tid), 404, "not_found")
        self.assertError(self.s.request("POST", "/v1/tasks/%s/retry" % tid), 404, "not_found")

    def test_unknown_path_404(self):
        for method, path in (("GET", "/nope"), ("GET", "/v1/nope"), ("GET", "/v2/tasks"),
                             ("POST", "/v1/nope"), ("GET", "/v1/tasks/%s/nope" % uuid.uuid4()),
                             ("GET", "/v1"), ("GET", "/health/extra")):
            with self.subTest(method=method, path=path):
                self.assertError(self.s.request(method, path), 404, "not_found")

    def test_wrong_method_405_with_allow(self):
        tid = str(uuid.uuid4())
        cases = [
            ("DELETE", "/v1/tasks/" + tid, {"GET"}),
            ("PUT", "/v1/tasks", {"GET", "POST"}),
            ("DELETE", "/v1/tasks", {"GET", "POST"}),
            ("GET", "/v1/tasks/%s/cancel" % tid, {"POST"}),
            ("GET", "/v1/tasks/%s/retry" % tid, {"POST"}),
            ("POST", "/v1/task-types", {"GET"}),
            ("PATCH", "/v1/workers", {"GET"}),
            ("GET", "/v1/workers/node-x/drain", {"POST"}),
            ("DELETE", "/v1/cluster", {"GET"}),
            ("POST", "/health", {"GET"}),
            ("POST", "/ready", {"GET"}),
            ("POST", "/metrics", {"GET"}),
            ("POST", "/openapi.json", {"GET"}),
            ("POST", "/", {"GET"}),
            ("GET", "/run-task", {"POST"}),
            ("POST", "/get-task-output", {"GET"}),
        ]
        for method, path, allow in cases:
            with self.subTest(method=method, path=path):
                r = self.s.request(method, path)
                self.assertError(r, 405, "method_not_allowed")
                header = r.headers.get("Allow")
                self.assertIsNotNone(header, "405 without an Allow header")
                got = {m.strip().upper() for m in header.split(",") if m.strip()}
                self.assertTrue(allow <= got, "Allow: %r lacks %s" % (header, allow - got))
                self.assertNotIn(method, got, "Allow: %r lists the refused method" % header)

    # ------------------------------------------------------------------ batch
    def test_batch_202_in_request_order(self):
        items = [{"type": "sum", "params": {"a": i, "b": 1000}} for i in range(5)]
        items.insert(2, {"type": "text_stats", "params": {"text": "a b a"}})
        items.append({"type": "sleep", "params": {"ms": 10}, "priority": 3})
        r = self.s.request("POST", "/v1/tasks/batch", {"tasks": items})
        self.assertEqual(r.status, 202, r.text[:500])
        self.assertJson(r)
        tasks = r.body["tasks"]
        self.assertEqual(len(tasks), len(items))
        for item, t in zip(items, tasks):
            self.assertTaskShape(t)
            self.assertEqual(t["type"], item["type"])
            self.assertEqual(t["params"], item["params"])
        self.assertEqual(tasks[-1]["priority"], 3)
        self.assertEqual(len({t["id"] for t in tasks}), len(tasks), "duplicate ids in batch")
        for item, t in zip(items, tasks):
            done = self.s.wait_terminal(t["id"], 20)
            if item["type"] == "sum":
                self.assertCompleted(done, {"sum": item["params"]["a"] + 1000})
            else:
                self.assertCompleted(done)

    def _stored_with_marker(self, marker):
        tasks, _ = self.s.list_all("type=sum")
        return [t for t in tasks if t["params"].get("a") == marker]

    def test_batch_all_or_none(self):
        marker = int(uuid.uuid4().int % 10 ** 12) + 1
        keys = ["batch-%s-%d" % (uuid.uuid4().hex, i) for i in range(3)]
        items = [
            {"type": "sum", "params": {"a": marker, "b": 1}, "idempotency_key": keys[0]},
            {"type": "sum", "params": {"a": marker, "b": 2}, "idempotency_key": keys[1]},
            {"type": "sum", "params": {"a": marker, "b": 3}, "idempotency_key": keys[2],
             "priority": 42},
        ]
        err = self.assertError(self.s.request("POST", "/v1/tasks/batch", {"tasks": items}),
                               422, "invalid_params")
        self.assertNamesField(err, "priority")
        self.assertEqual(self._stored_with_marker(marker), [], "a rejected batch stored tasks")
        # the valid items' idempotency keys were not taken: submitting one is a fresh 202
        t = self.submit_ok(items[0])
        self.assertCompleted(self.s.wait_terminal(t["id"], 20), {"sum": marker + 1})
        self.assertEqual(len(self._stored_with_marker(marker)), 1)

    def test_batch_item_with_unknown_type_422(self):
        marker = int(uuid.uuid4().int % 10 ** 12) + 1
        items = [{"type": "sum", "params": {"a": marker, "b": 0}},
                 {"type": "nope_%s" % uuid.uuid4().hex[:6], "params": {}}]
        err = self.assertError(self.s.request("POST", "/v1/tasks/batch", {"tasks": items}),
                               422, "invalid_params")
        self.assertNamesField(err, "type")
        self.assertEqual(self._stored_with_marker(marker), [])

    def test_batch_over_1000_422(self):
        marker = int(uuid.uuid4().int % 10 ** 12) + 1
        items = [{"type": "sum", "params": {"a": marker, "b": i}} for i in range(1001)]
        self.assertError(self.s.request("POST", "/v1/tasks/batch", {"tasks": items}),
                         422, "invalid_params")
        self.assertEqual(self._stored_with_marker(marker), [])

    def test_batch_malformed(self):
        r = self.s.request("POST", "/v1/tasks/batch", raw="{\"tasks\": [",
                           headers={"Content-Type": "application/json"})
        self.assertError(r, 400, "bad_request")
        for body in ({"tasks": "x"}, {"tasks": [1, 2]}, {}):
            with self.subTest(body=body):
                r = self.s.request("POST", "/v1/tasks/batch", body)
                self.assertIn(r.status, (400, 422), r.text)
                self.assertError(r, r.status, "invalid_params" if r.status == 422
                                 else "bad_request")

    # ------------------------------------------------------------------ get with wait_ms
    def test_wait_ms_returns_on_completion(self):
        t = self.submit_ok({"type": "sleep", "params": {"ms": 300}})
        r = self.s.request("GET", "/v1/tasks/%s?wait_ms=20000" % t["id"], timeout=40)
        self.assertEqual(r.status, 200, r.text)
        self.assertCompleted(r.body, {"slept_ms": 300})
        self.assertLess(r.elapsed, 10.0, "wait_ms=20000 held the reply %.1fs after the task "
                                         "finished" % r.elapsed)

    def test_wait_ms_on_terminal_task_is_immediate(self):
        done = self.run_to_end("sum", {"a": 3, "b": 4})
        r = self.s.request("GET", "/v1/tasks/%s?wait_ms=20000" % done["id"], timeout=40)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body["status"], "COMPLETED")
        self.assertLess(r.elapsed, 2.0)

    def test_wait_ms_shorter_than_task_returns_non_terminal(self):
        t = self.submit_ok({"type": "sleep", "params": {"ms": 8000}})
        try:
            r = self.s.request("GET", "/v1/tasks/%s?wait_ms=400" % t["id"], timeout=20)
            self.assertEqual(r.status, 200, r.text)
            self.assertIn(r.body["status"], NON_TERMINAL, json.dumps(r.body))
            self.assertGreaterEqual(r.elapsed, 0.3, "wait_ms=400 returned after %.3fs"
                                    % r.elapsed)
            self.assertLess(r.elapsed, 5.0, "wait_ms=400 returned after %.3fs" % r.elapsed)
        finally:
            self.cancel_quietly(t["id"])

    def test_wait_ms_bad_values_400(self):
        done = self.run_to_end("sum", {"a": 0, "b": 0})
        for v in ("abc", "-1", "60001", "1.5"):
            with self.subTest(wait_ms=v):
                self.assertError(self.s.request("GET", "/v1/tasks/%s?wait_ms=%s"
                                                % (done["id"], v)), 400, "bad_request")

    # ------------------------------------------------------------------ list
    def test_list_shape_and_default_limit(self):
        self.run_to_end("sum", {"a": 1, "b": 0})
        r = self.s.request("GET", "/v1/tasks")
        self.assertEqual(r.status, 200, r.text[:500])
        self.assertJson(r)
        self.assertIn("tasks", r.body)
        self.assertIn("next_cursor", r.body)
        self.assertIsInstance(r.body["tasks"], list)
        self.assertTrue(1 <= len(r.body["tasks"]) <= 100)
        for t in r.body["tasks"]:
            self.assertTaskShape(t)
        if len(r.body["tasks"]) < 100:
            self.assertIsNone(r.body["next_cursor"])

    def test_list_filters(self):
        done = self.run_to_end("sum", {"a": 5, "b": 5})
        failed = self.run_to_end("fail", {"message": "x", "retryable": False})
        ts = self.run_to_end("text_stats", {"text": "filter me"})
        for query, check, must_include in (
                ("status=COMPLETED", lambda t: t["status"] == "COMPLETED", done["id"]),
                ("status=FAILED", lambda t: t["status"] == "FAILED", failed["id"]),
                ("type=text_stats", lambda t: t["type"] == "text_stats", ts["id"]),
                ("type=sum&status=COMPLETED",
                 lambda t: t["type"] == "sum" and t["status"] == "COMPLETED", done["id"]),
                ("type=fail&status=COMPLETED", lambda t: False, None)):
            with self.subTest(query=query):
                tasks, _ = self.s.list_all(query)
                bad = [t for t in tasks if not check(t)]
                self.assertEqual(bad, [], "filter %s returned non-matching tasks" % query)
                if must_include:
                    self.assertIn(must_include, [t["id"] for t in tasks])

    def test_list_paging_newest_first_no_dups_no_gaps(self):
        mine = []
        marker = int(uuid.uuid4().int % 10 ** 12) + 1
        try:
            for i in range(23):
                mine.append(self.delayed("sum", {"a": marker, "b": i})["id"])
                time.sleep(0.003)  # distinct created_at milliseconds
            query = "type=sum&status=PENDING"
            paged, pages = self.s.list_all(query, limit=5)
            ids = [t["id"] for t in paged]
            self.assertEqual(len(ids), len(set(ids)), "duplicates across pages")
            self.assertGreaterEqual(pages, 5)
            for t in paged:
                self.assertEqual((t["type"], t["status"]), ("sum", "PENDING"))
            times = [parse_time(t["created_at"]) for t in paged]
            self.assertEqual(times, sorted(times, reverse=True), "not newest first")
            # no gaps: every one of mine, newest first
            mine_set = set(mine)
            self.assertEqual([i for i in ids if i in mine_set], list(reversed(mine)),
                             "my tasks are missing or not newest first when paging")
            whole, whole_pages = self.s.list_all(query, limit=1000)
            self.assertEqual(whole_pages, 1)
            self.assertEqual([t["id"] for t in whole if t["id"] in mine_set],
                             list(reversed(mine)), "one page of limit=1000")
            # the first page alone
            r = self.s.request("GET", "/v1/tasks?%s&limit=5" % query)
            self.assertEqual(r.status, 200)
            self.assertEqual(len(r.body["tasks"]), 5)
            self.assertIsNotNone(r.body["next_cursor"])
            self.assertEqual([t["id"] for t in r.body["tasks"]], list(reversed(mine))[:5])
        finally:
            for tid in mine:
                self.cancel_quietly(tid)

    def test_list_limit_bounds(self):
        self.run_to_end("sum", {"a": 1, "b": 1})
        for limit in ("1", "1000"):
            r = self.s.request("GET", "/v1/tasks?limit=" + limit)
            self.assertEqual(r.status, 200, r.text[:300])
            self.assertLessEqual(len(r.body["tasks"]), int(limit))
        r = self.s.request("GET", "/v1/tasks?limit=1")
        self.assertEqual(len(r.body["tasks"]), 1)
        for bad in ("0", "1001", "-5", "abc", ""):
            with self.subTest(limit=bad):
                self.assertError(self.s.request("GET", "/v1/tasks?limit=" + bad), 400,
                                 "bad_request")

    def test_list_bad_filters_and_cursor_400(self):
        for q in ("status=BOGUS", "type=", "cursor=%%%%not-a-cursor", "cursor=garbage"):
            with self.subTest(query=q):
                r = self.s.request("GET", "/v1/tasks?" + q)
                if q == "type=":
                    # an empty filter value: accepted as "no filter" or rejected; never a 5xx
                    self.assertIn(r.status, (200, 400), r.text[:300])
                    continue
                self.assertError(r, 400, "bad_request")

    # ------------------------------------------------------------------ cancel
    def test_cancel_pending_delayed_task(self):
        t = self.delayed()
        r = self.s.request("POST", "/v1/tasks/%s/cancel" % t["id"])
        self.assertEqual(r.status, 200, r.text)
        self.assertJson(r)
        self.assertTaskShape(r.body)
        self.assertEqual(r.body["status"], "CANCELLED")
        self.assertEqual(r.body["id"], t["id"])
        time.sleep(0.3)
        g = self.s.get_task(t["id"])
        self.assertEqual(g["status"], "CANCELLED")
        self.assertEqual(g["attempts"], 0)

    def test_cancel_running_task(self):
        t = self.submit_ok({"type": "sleep", "params": {"ms": 30000}})
        try:
            running = self.s.wait_status(t["id"], "PROCESSING", timeout=10)
            self.assertEqual(running["attempts"], 1)
            self.assertIsNotNone(running["started_at"])
            self.assertIsInstance(running["worker_id"], str)
            r = self.s.request("POST", "/v1/tasks/%s/cancel" % t["id"])
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(r.body["status"], "CANCELLED")
            # well past the 50 ms retry back-off: still cancelled, nothing re-ran it
            time.sleep(1.0)
            g = self.s.get_task(t["id"])
            self.assertEqual(g["status"], "CANCELLED", json.dumps(g))
            self.assertEqual(g["attempts"], 1, json.dumps(g))
            self.assertIsNone(g["result"])
            w = self.s.request("GET", "/v1/tasks/%s?wait_ms=5000" % t["id"])
            self.assertEqual(w.body["status"], "CANCELLED")
            self.assertLess(w.elapsed, 2.0)
        finally:
            self.cancel_quietly(t["id"])

    def test_cancel_terminal_409(self):
        done = self.run_to_end("sum", {"a": 1, "b": 2})
        self.assertError(self.s.request("POST", "/v1/tasks/%s/cancel" % done["id"]), 409,
                         "conflict")
        failed = self.run_to_end("fail", {"message": "m", "retryable": False})
        self.assertError(self.s.request("POST", "/v1/tasks/%s/cancel" % failed["id"]), 409,
                         "conflict")
        t = self.delayed()
        self.assertEqual(self.s.request("POST", "/v1/tasks/%s/cancel" % t["id"]).status, 200)
        self.assertError(self.s.request("POST", "/v1/tasks/%s/cancel" % t["id"]), 409,
                         "conflict")
        # a refused cancel changes nothing
        self.assertEqual(self.s.get_task(done["id"])["status"], "COMPLETED")
        self.assertEqual(self.s.get_task(done["id"])["result"], {"sum": 3})

    # ------------------------------------------------------------------ retry
    def test_retry_failed_runs_again_with_fresh_attempts(self):
        msg = "again-" + uuid.uuid4().hex
        first = self.run_to_end("fail", {"message": msg}, max_attempts=2)
        self.assertEqual((first["status"], first["attempts"]), ("FAILED", 2), json.dumps(first))
        r = self.s.request("POST", "/v1/tasks/%s/retry" % first["id"])
        self.assertEqual(r.status, 202, r.text)
        self.assertJson(r)
        self.assertTaskShape(r.body)
        self.assertEqual(r.body["id"], first["id"])
        self.assertIn(r.body["status"], NON_TERMINAL, json.dumps(r.body))
        self.assertLess(r.body["attempts"], 2, "attempts not reset: %s" % json.dumps(r.body))
        second = self.s.wait_terminal(first["id"], 20)
        self.assertEqual(second["status"], "FAILED", json.dumps(second))
        self.assertEqual(second["attempts"], 2, "fresh budget of 2: %s" % json.dumps(second))
        self.assertEqual(second["error"], msg)
        self.assertGreater(parse_time(second["completed_at"]), parse_time(first["completed_at"]))

    def test_retry_cancelled_runs_now(self):
        marker = int(uuid.uuid4().int % 10 ** 9)
        t = self.delayed("sum", {"a": marker, "b": 1})
        self.assertEqual(self.s.request("POST", "/v1/tasks/%s/cancel" % t["id"]).status, 200)
        r = self.s.request("POST", "/v1/tasks/%s/retry" % t["id"])
        self.assertEqual(r.status, 202, r.text)
        self.assertIn(r.body["status"], NON_TERMINAL)
        done = self.s.wait_terminal(t["id"], 15)
        self.assertCompleted(done, {"sum": marker + 1})

    def test_retry_completed_409(self):
        done = self.run_to_end("sum", {"a": 2, "b": 2})
        self.assertError(self.s.request("POST", "/v1/tasks/%s/retry" % done["id"]), 409,
                         "conflict")
        g = self.s.get_task(done["id"])
        self.assertEqual((g["status"], g["attempts"], g["result"]), ("COMPLETED", 1, {"sum": 4}))

    def test_retry_pending_409(self):
        t = self.delayed()
        try:
            self.assertError(self.s.request("POST", "/v1/tasks/%s/retry" % t["id"]), 409,
                             "conflict")
        finally:
            self.cancel_quietly(t["id"])

    # ------------------------------------------------------------------ idempotency
    def test_idempotency_key_field(self):
        key = "order-" + uuid.uuid4().hex
        body = {"type": "sum", "params": {"a": 40, "b": 2}, "idempotency_key": key}
        first = self.submit_ok(body)
        self.assertEqual(first["idempotency_key"], key)
        again = self.submit_ok(body, status=200)
        self.assertEqual(again["id"], first["id"])
        self.s.wait_terminal(first["id"], 20)
        after_done = self.submit_ok(body, status=200)
        self.assertEqual(after_done["id"], first["id"])
        self.assertCompleted(after_done, {"sum": 42})
        other = dict(body, params={"a": 40, "b": 3})
        self.assertError(self.submit_raw(other), 409, "conflict")
        other = dict(body, priority=5)
        self.assertError(self.submit_raw(other), 409, "conflict")
        # exactly one task carries the key
        tasks, _ = self.s.list_all("type=sum")
        self.assertEqual([t["id"] for t in tasks if t["idempotency_key"] == key], [first["id"]])

    def test_idempotency_key_header(self):
        key = "hdr-" + uuid.uuid4().hex
        body = {"type": "sum", "params": {"a": 1, "b": 1}}
        first = self.submit_ok(body, headers={"Idempotency-Key": key})
        self.assertEqual(first["idempotency_key"], key)
        again = self.submit_ok(body, headers={"Idempotency-Key": key}, status=200)
        self.assertEqual(again["id"], first["id"])
        # the header is the same as the field
        as_field = self.submit_ok(dict(body, idempotency_key=key), status=200)
        self.assertEqual(as_field["id"], first["id"])
        self.assertError(self.submit_raw({"type": "sum", "params": {"a": 1, "b": 2}},
                                         headers={"Idempotency-Key": key}), 409, "conflict")
        # and a key given only as a field is matched by the header
        key2 = "fld-" + uuid.uuid4().hex
        f = self.submit_ok(dict(body, idempotency_key=key2))
        h = self.submit_ok(body, headers={"Idempotency-Key": key2}, status=200)
        self.assertEqual(h["id"], f["id"])

    # ------------------------------------------------------------------ metadata endpoints
    def test_task_types(self):
        r = self.s.request("GET", "/v1/task-types")
        self.assertEqual(r.status, 200, r.text[:500])
        self.assertJson(r)
        types = {t["type"]: t for t in r.body["task_types"]}
        for name, params in BUILTIN_TYPES.items():
            with self.subTest(type=name):
                self.assertIn(name, types)
                tt = types[name]
                self.assertIsInstance(tt.get("description"), str)
                self.assertTrue(tt["description"].strip())
                schema = tt.get("params_schema")
                self.assertIsInstance(schema, dict, "params_schema of %s" % name)
                self.assertEqual(schema.get("type"), "object", json.dumps(schema))
                props = schema.get("properties")
                self.assertIsInstance(props, dict, json.dumps(schema))
                for p in params:
                    self.assertIn(p, props, "schema of %s lacks %s" % (name, p))
        req = types["sum"]["params_schema"].get("required")
        if req is not None:
            self.assertEqual(set(req), {"a", "b"})

    def test_health_and_ready(self):
        for path in ("/health", "/ready"):
            with self.subTest(path=path):
                self.assertEqual(self.s.request("GET", path).status, 200)

    def test_metrics(self):
        self.run_to_end("sum", {"a": 1, "b": 2})
        r = self.s.request("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertIn("text/plain", (r.headers.get("Content-Type") or "").lower())
        self.assertIsInstance(r.body, str)
        total = 0.0
        found = False
        for line in r.body.splitlines():
            if re.match(r"^tasker_tasks_submitted_total(\{|\s)", line):
                found = True
                total += float(line.rsplit(None, 1)[-1])
        self.assertTrue(found, "no tasker_tasks_submitted_total sample in:\n%s" % r.body[:2000])
        self.assertGreater(total, 0)

    def test_workers_lists_local_node(self):
        self.run_to_end("sum", {"a": 1, "b": 2})
        deadline = time.monotonic() + 5
        while True:
            r = self.s.request("GET", "/v1/workers")
            self.assertEqual(r.status, 200, r.text[:500])
            self.assertJson(r)
            workers = r.body["workers"]
            self.assertIsInstance(workers, list)
            self.assertGreaterEqual(len(workers), 1, "no workers listed")
            if sum(w.get("completed", 0) for w in workers) >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for w in workers:
            for f in ("id", "name", "address", "status", "task_types", "slots", "busy",
                      "completed", "failed", "joined_at", "last_seen"):
                self.assertIn(f, w, "worker lacks %s: %s" % (f, json.dumps(w)))
            self.assertIn(w["status"], ("ALIVE", "SUSPECT", "DRAINING", "DEAD"))
        alive = [w for w in workers if w["status"] == "ALIVE"]
        self.assertTrue(alive, json.dumps(workers))
        local = [w for w in alive if w["slots"] == self.SLOTS]
        self.assertTrue(local, "no ALIVE worker with %d slots: %s" % (self.SLOTS,
                                                                     json.dumps(workers)))
        self.assertTrue(set(BUILTIN_TYPES) <= set(local[0]["task_types"]), json.dumps(local[0]))
        self.assertGreaterEqual(sum(w["completed"] for w in workers), 1, json.dumps(workers))

    def test_drain_unknown_worker_404(self):
        self.assertError(self.s.request("POST", "/v1/workers/no-such-node-%s/drain"
                                        % uuid.uuid4().hex[:8]), 404, "not_found")

    def test_cluster(self):
        r = self.s.request("GET", "/v1/cluster")
        self.assertEqual(r.status, 200, r.text[:500])
        self.assertJson(r)
        self.assertIsInstance(r.body, dict)
        self.assertTrue(r.body)

    def test_openapi(self):
        r = self.s.request("GET", "/openapi.json")
        self.assertEqual(r.status, 200)
        self.assertJson(r)
        self.assertIsInstance(r.body, dict, r.text[:300])
        self.assertTrue(str(r.body.get("openapi", "")).startswith("3"), r.text[:300])
        self.assertIn("/v1/tasks", r.body.get("paths", {}))

    def test_dashboard_html(self):
        r = self.s.request("GET", "/")
        self.assertEqual(r.status, 200)
        self.assertIn("text/html", (r.headers.get("Content-Type") or "").lower())
        self.assertIn("<html", r.text.lower())

    # ------------------------------------------------------------------ seed endpoints
    def _seed_output(self, task_id, until=("completed", "failed", "cancelled"), timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            r = self.s.request("GET", "/get-task-output?task_id=" + task_id)
            self.assertEqual(r.status, 200, r.text)
            self.assertJson(r)
            for f in ("task_id", "task_name", "status", "task_output", "error"):
                self.assertIn(f, r.body)
            self.assertIn(r.body["status"], SEED_STATUSES)
            if r.body["status"] in until:
                return r.body
            if time.monotonic() > deadline:
                self.fail("seed status stayed %r: %s" % (r.body["status"], r.text))
            time.sleep(0.05)

    def test_seed_run_task_and_output(self):
        r = self.s.request("POST", "/run-task", {"task_name": "sum", "a": 1, "b": 2})
        self.assertEqual(r.status, 202, r.text)
        self.assertJson(r)
        tid = r.body["task_id"]
        self.assertRegex(tid, UUID_RE)
        out = self._seed_output(tid)
        self.assertEqual(out["task_id"], tid)
        self.assertEqual(out["task_name"], "sum")
        self.assertEqual(out["status"], "completed")
        self.assertIn(out["task_output"], ({"sum": 3}, 3))
        self.assertIsNone(out["error"])
        t = self.s.get_task(tid)
        self.assertCompleted(t, {"sum": 3})
        self.assertEqual(t["params"], {"a": 1, "b": 2})

    def test_seed_statuses_are_lower_case(self):
        failed = self.s.request("POST", "/run-task",
                                {"task_name": "fail", "message": "seedfail", "retryable": False})
        self.assertEqual(failed.status, 202, failed.text)
        out = self._seed_output(failed.body["task_id"])
        self.assertEqual(out["status"], "failed")
        self.assertIn("seedfail", json.dumps(out["error"]))

        pending = self.delayed()
        self.assertEqual(self._seed_output(pending["id"], until=SEED_STATUSES)["status"],
                         "pending")
        self.s.request("POST", "/v1/tasks/%s/cancel" % pending["id"])
        self.assertEqual(self._seed_output(pending["id"])["status"], "cancelled")

        running = self.s.request("POST", "/run-task", {"task_name": "sleep", "ms": 30000})
        self.assertEqual(running.status, 202, running.text)
        try:
            self.s.wait_status(running.body["task_id"], "PROCESSING", timeout=10)
            self.assertEqual(self._seed_output(running.body["task_id"],
                                               until=SEED_STATUSES)["status"], "running")
        finally:
            self.cancel_quietly(running.body["task_id"])

    def test_seed_errors(self):
        self.assertError(self.s.request("GET", "/get-task-output"), 400, "bad_request")
        self.assertError(self.s.request("GET", "/get-task-output?task_id=garbage"), 400,
                         "bad_request")
        self.assertError(self.s.request("GET", "/get-task-output?task_id=%s" % uuid.uuid4()),
                         404, "not_found")
        err = self.assertError(self.s.request("POST", "/run-task", {"task_name": "nope", "a": 1}),
                               422, "invalid_params")
        self.assertNamesField(err, "task_name")
        self.assertError(self.s.request("POST", "/run-task", {"a": 1, "b": 2}), 422,
                         "invalid_params")
        self.assertError(self.s.request("POST", "/run-task", {"task_name": "sum", "a": "x",
                                                              "b": 2}), 422, "invalid_params")
        self.assertError(self.s.request("POST", "/run-task", raw="{oops",
                                        headers={"Content-Type": "application/json"}),
                         400, "bad_request")

    # ------------------------------------------------------------------ HTTP/1.1 behaviour
    def test_keep_alive_pipelined_requests_answered_in_order(self):
        done = self.run_to_end("sum", {"a": 20, "b": 22})
        body = json.dumps({"type": "sum", "params": {"a": 100, "b": 1}}).encode()
        host = "%s:%s" % (self.s.host, self.s.port)
        reqs = [
            b"GET /health HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n",
            b"POST /v1/tasks HTTP/1.1\r\nHost: " + host.encode() +
            b"\r\nContent-Type: application/json\r\nContent-Length: " +
            str(len(body)).encode() + b"\r\n\r\n" + body,
            ("GET /v1/tasks/%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (done["id"], host)).encode(),
            b"GET /no/such/path HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n",
            b"GET /v1/task-types HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n",
        ]
        with socket.create_connection((self.s.host, self.s.port), timeout=10) as sock:
            sock.sendall(b"".join(reqs))  # all at once, before reading anything
            resps = read_http_responses(sock, len(reqs), timeout=20)
            self.assertEqual([s for s, _, _ in resps], [200, 202, 200, 404, 200],
                             [(s, b[:200]) for s, _, b in resps])
            self.assertEqual(json.loads(resps[2][2])["id"], done["id"])
            submitted = json.loads(resps[1][2])
            self.assertEqual(submitted["params"], {"a": 100, "b": 1})
            self.assertEqual(json.loads(resps[3][2])["error"]["code"], "not_found")
            self.assertIn("task_types", json.loads(resps[4][2]))
            # the connection is still usable afterwards
            sock.sendall(("GET /v1/tasks/%s?wait_ms=10000 HTTP/1.1\r\nHost: %s\r\n\r\n"
                          % (submitted["id"], host)).encode())
            (status, _, b), = read_http_responses(sock, 1, timeout=20)
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(b)["result"], {"sum": 101})

    def test_keep_alive_sequential_requests_one_connection(self):
        c = self.s.client()
        try:
            for _ in range(20):
                r = c.request("GET", "/health")
                self.assertEqual(r.status, 200)
            self.assertEqual(c.requests_on_conn, 20, "the server closed the keep-alive "
                                                     "connection")
        finally:
            c.close()

    # ------------------------------------------------------------------ last: still alive
    def test_zzz_server_survived_everything(self):
        self.assertTrue(self.s.is_running(), "the server died during the tests")
        self.assertEqual(self.s.request("GET", "/health").status, 200)
        self.assertEqual(self.s.request("GET", "/ready").status, 200)


class ConnectionLimitsTest(TaskerTestCase):
    """Per-connection limits: pipelined requests past max_pipeline wait (nothing is lost or
    reordered), a slow request gets 408, an idle connection is closed."""

    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = start_server(extra_env={"TASKER_MAX_PIPELINE": "4",
                                             "TASKER_HEADER_TIMEOUT_MS": "600",
                                             "TASKER_IDLE_TIMEOUT_MS": "800",
                                             "TASKER_LOCAL_SLOTS": "2"}, name="conn-limits")

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.close()

    def test_pipelined_requests_past_the_bound_are_all_answered_in_order(self):
        s = self.server
        host = "%s:%s" % (s.host, s.port)
        n = 50
        reqs = []
        for i in range(n):
            body = json.dumps({"type": "sum", "params": {"a": i, "b": 1}}).encode()
            reqs.append(b"POST /v1/tasks HTTP/1.1\r\nHost: " + host.encode() +
                        b"\r\nContent-Type: application/json\r\nContent-Length: " +
                        str(len(body)).encode() + b"\r\n\r\n" + body)
        with socket.create_connection((s.host, s.port), timeout=10) as sock:
            sock.sendall(b"".join(reqs))
            resps = read_http_responses(sock, n, timeout=30)
        self.assertEqual([st for st, _, _ in resps], [202] * n)
        params = [json.loads(b)["params"]["a"] for _, _, b in resps]
        self.assertEqual(params, list(range(n)))

    def test_slow_request_gets_408_and_is_closed(self):
        s = self.server
        with socket.create_connection((s.host, s.port), timeout=10) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # no blank line: unfinished
            t0 = time.monotonic()
            (status, _, body), = read_http_responses(sock, 1, timeout=10)
            took = time.monotonic() - t0
            self.assertEqual(status, 408)
            self.assertEqual(json.loads(body)["error"]["code"], "request_timeout")
            self.assertGreaterEqual(took, 0.5)
            sock.settimeout(5)
            self.assertEqual(sock.recv(1), b"", "the connection stayed open")

    def test_idle_connection_is_closed_and_a_busy_one_is_not(self):
        s = self.server
        with socket.create_connection((s.host, s.port), timeout=10) as idle:
            idle.settimeout(5)
            t0 = time.monotonic()
            self.assertEqual(idle.recv(1), b"")
            self.assertGreaterEqual(time.monotonic() - t0, 0.7)
        c = s.client()
        try:
            for _ in range(8):  # a request every 0.3 s keeps it open past the idle time
                self.assertEqual(c.request("GET", "/health").status, 200)
                time.sleep(0.3)
            self.assertEqual(c.requests_on_conn, 8, "the busy connection was closed")
        finally:
            c.close()


class LimitsTest(TaskerTestCase, TaskAssertions):
    """A server with small body and text limits; also drain and graceful shutdown."""

    server = None
    MAX_BODY = 1024
    MAX_TEXT = 100

    @classmethod
    def setUpClass(cls):
        cls.server = start_server(extra_env={"TASKER_MAX_BODY_BYTES": str(cls.MAX_BODY),
                                             "TASKER_MAX_TEXT_BYTES": str(cls.MAX_TEXT),
                                             "TASKER_LOCAL_SLOTS": "2"}, name="limits")

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.close()

    def setUp(self):
        self.s = self.server

    def test_body_over_limit_413(self):
        big = {"type": "text_stats", "params": {"text": "x" * (self.MAX_BODY * 2)}}
        for path in ("/v1/tasks", "/v1/tasks/batch", "/run-task"):
            with self.subTest(path=path):
                c = self.s.client()
                try:
                    payload = big if path != "/v1/tasks/batch" else {"tasks": [big]}
                    if path == "/run-task":
                        payload = {"task_name": "text_stats", "text": "x" * (self.MAX_BODY * 2)}
                    r = c.request("POST", path, payload)
                    self.assertError(r, 413, "payload_too_large")
                finally:
                    c.close()
        # the server is fine afterwards, and a body under the limit is accepted
        t = self.submit_ok({"type": "sum", "params": {"a": 1, "b": 2}})
        self.assertCompleted(self.s.wait_terminal(t["id"], 20), {"sum": 3})

    def test_text_over_limit_422(self):
        err = self.assertError(self.submit_raw({"type": "text_stats",
                                                "params": {"text": "y" * (self.MAX_TEXT + 1)}}),
                               422, "invalid_params")
        self.assertNamesField(err, "text")
        t = self.submit_ok({"type": "text_stats", "params": {"text": "y" * self.MAX_TEXT}})
        self.assertCompleted(self.s.wait_terminal(t["id"], 20),
                             {"word_count": 1, "unique_words": 1,
                              "top_words": [{"word": "y" * self.MAX_TEXT, "count": 1}]})

    def test_z_drain_local_worker(self):
        r = self.s.request("GET", "/v1/workers")
        self.assertEqual(r.status, 200)
        wid = r.body["workers"][0]["id"]
        d = self.s.request("POST", "/v1/workers/%s/drain" % urllib.parse.quote(str(wid), safe=""))
        self.assertEqual(d.status, 202, d.text)
        deadline = time.monotonic() + 10
        while True:
            workers = {w["id"]: w for w in self.s.request("GET", "/v1/workers").body["workers"]}
            if wid not in workers or workers[wid]["status"] in ("DRAINING", "DEAD"):
                break
            if time.monotonic() > deadline:
                self.fail("worker %s not DRAINING/DEAD after drain: %s" % (wid, workers[wid]))
            time.sleep(0.1)

    def test_zz_sigterm_exits_0(self):
        code = self.s.stop()
        self.assertEqual(code, 0, "SIGTERM should shut down gracefully with exit code 0")


class AuthAndAdmissionTest(TaskerTestCase, TaskAssertions):
    """A server with TASKER_AUTH_TOKEN and a small TASKER_MAX_PENDING."""

    server = None
    TOKEN = "s3cret-token"
    MAX_PENDING = 3

    @classmethod
    def setUpClass(cls):
        cls.server = start_server(extra_env={"TASKER_AUTH_TOKEN": cls.TOKEN,
                                             "TASKER_MAX_PENDING": str(cls.MAX_PENDING)},
                                  name="auth")

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.close()

    def setUp(self):
        self.s = self.server
        self.auth = {"Authorization": "Bearer " + self.TOKEN}

    def test_v1_needs_the_bearer_token(self):
        body = {"type": "sum", "params": {"a": 7771, "b": 2}}
        self.assertError(self.s.request("POST", "/v1/tasks", body), 401, "unauthorized")
        self.assertError(self.s.request("POST", "/v1/tasks", body,
                                        headers={"Authorization": "Bearer wrong"}),
                         401, "unauthorized")
        self.assertError(self.s.request("POST", "/v1/tasks", body,
                                        headers={"Authorization": self.TOKEN}),
                         401, "unauthorized")
        self.assertError(self.s.request("GET", "/v1/tasks"), 401, "unauthorized")
        self.assertError(self.s.request("GET", "/v1/cluster"), 401, "unauthorized")
        r = self.s.request("POST", "/v1/tasks", body, headers=self.auth)
        self.assertEqual(r.status, 202, r.text)
        done = self.s.request("GET", "/v1/tasks/%s?wait_ms=10000" % r.body["id"],
                              headers=self.auth)
        self.assertEqual(done.status, 200, done.text)
        self.assertCompleted(done.body, {"sum": 7773})
        # a refused request stored nothing: only the accepted task is listed
        listed = self.s.request("GET", "/v1/tasks?type=sum", headers=self.auth)
        mine = [t["id"] for t in listed.body["tasks"] if t["params"].get("a") == 7771]
        self.assertEqual(mine, [r.body["id"]])

    def test_health_ready_metrics_stay_open(self):
        for path in ("/health", "/ready", "/metrics"):
            with self.subTest(path=path):
                self.assertEqual(self.s.request("GET", path).status, 200)

    def test_submits_past_max_pending_get_429(self):
        held = []
        try:
            # due within the delay horizon (60 s), so each one is held in memory
            for _ in range(self.MAX_PENDING):
                r = self.s.request("POST", "/v1/tasks",
                                   {"type": "sleep", "params": {"ms": 0},
                                    "delay_ms": 30000}, headers=self.auth)
                self.assertEqual(r.status, 202, r.text)
                held.append(r.body["id"])
            r = self.s.request("POST", "/v1/tasks", {"type": "sum", "params": {"a": 1, "b": 1}},
                               headers=self.auth)
            self.assertError(r, 429, "overloaded")
            self.assertTrue(r.headers.get("Retry-After"), "429 without Retry-After")
            # once one is cancelled there is room again
            c = self.s.request("POST", "/v1/tasks/%s/cancel" % held.pop(), headers=self.auth)
            self.assertEqual(c.status, 200, c.text)
            r = self.s.request("POST", "/v1/tasks", {"type": "sum", "params": {"a": 1, "b": 1}},
                               headers=self.auth)
            self.assertEqual(r.status, 202, r.text)
        finally:
            for tid in held:
                self.s.request("POST", "/v1/tasks/%s/cancel" % tid, headers=self.auth)


class DatabaseLossTest(TaskerTestCase, TaskAssertions):
    """The database goes away under a running server: submits get 503, nothing crashes."""

    def test_database_gone_gives_503_and_not_ready(self):
        self.s = start_server(name="dbloss")
        try:
            before = self.submit_ok({"type": "sum", "params": {"a": 1, "b": 2}})
            self.assertCompleted(self.s.wait_terminal(before["id"], 20), {"sum": 3})
            harness.psql(harness.pg_url(),
                         'DROP DATABASE "%s" WITH (FORCE)' % self.s.db_name)
            r = self.s.request("POST", "/v1/tasks", {"type": "sum", "params": {"a": 2, "b": 2}},
                               timeout=10)
            self.assertError(r, 503, "unavailable")
            self.assertTrue(r.headers.get("Retry-After"), "503 without Retry-After")
            deadline = time.time() + 10
            while self.s.request("GET", "/ready").status != 503:
                self.assertLess(time.time(), deadline, "/ready stayed 200 without a database")
                time.sleep(0.1)
            # the task that finished before is still served from memory
            self.assertEqual(self.s.get_task(before["id"])["status"], "COMPLETED")
            self.assertTrue(self.s.is_running(), "tasker exited when its database went away")
        finally:
            self.s.close()


class StartupTest(TaskerTestCase):
    """Process contract: a bad configuration value is one stderr line and exit code 2."""

    def setUp(self):
        harness.pg_url()  # skips the test when TASKER_TEST_PG_URL is not set
        self.bin = os.environ.get("TASKER_BIN", harness.DEFAULT_BIN)
        if not os.path.exists(self.bin):
            self.fail("tasker binary not found at %s (build it, or set TASKER_BIN)" % self.bin)

    def _run(self, env_changes, drop=()):
        bin_ = self.bin
        env = dict(os.environ)
        # a database that does not exist: a run that wrongly got past validation fails
        # without touching anything
        env["TASKER_DB_URL"] = harness.db_url_for(harness.pg_url(),
                                                  "tasker_e2e_absent_%s" % uuid.uuid4().hex[:8])
        env["TASKER_HTTP_PORT"] = "0"
        env.update(env_changes)
        for k in drop:
            env.pop(k, None)
        try:
            p = subprocess.run([bin_, "serve"], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("tasker serve with %s did not exit within 20 s" % env_changes)
        return p

    def test_bad_values_exit_2(self):
        for name, changes, drop in (
                ("port", {"TASKER_HTTP_PORT": "notaport"}, ()),
                ("port range", {"TASKER_HTTP_PORT": "70000"}, ()),
                ("slots", {"TASKER_LOCAL_SLOTS": "abc"}, ()),
                ("log level", {"TASKER_LOG_LEVEL": "loud"}, ()),
                ("no db url", {}, ("TASKER_DB_URL",))):
            with self.subTest(case=name):
                p = self._run(changes, drop)
                err = p.stderr.decode(errors="replace")
                self.assertEqual(p.returncode, 2, "exit %s, stderr:\n%s" % (p.returncode,
                                                                           err[-2000:]))
                self.assertTrue(err.strip(), "no message on stderr")


if __name__ == "__main__":
    unittest.main()
