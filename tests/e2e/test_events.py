"""Task history (docs/API.md, "Task history"): every transition of a task is stored with its
row, in the same statement, and `GET /v1/tasks/{id}/events` shows it: attempts, workers,
errors, durations. A coordinator killed with SIGKILL loses none and invents none."""

import json
import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import TaskerTestCase, start_server  # noqa: E402


def kinds(history):
    return [e["kind"] for e in history["events"]]


class EventsTest(TaskerTestCase):

    server = None

    def setUp(self):
        self.server = start_server(extra_env={
            "TASKER_RETRY_BASE_MS": "50",
            "TASKER_RETRY_MAX_MS": "100",
            "TASKER_LOCAL_SLOTS": "4",
        }, name="events")
        self.addCleanup(self.server.close)

    def history(self, task_id, expect=200):
        r = self.server.request("GET", "/v1/tasks/%s/events" % task_id)
        self.assertEqual(r.status, expect, r.text)
        return r.body

    def test_history_of_retries_a_failure_and_a_retry_by_request(self):
        s = self.server
        task_id = s.submit("fail", {"message": "boom"}, max_attempts=2)["id"]
        self.assertEqual(s.wait_terminal(task_id)["status"], "FAILED")
        h = self.history(task_id)
        self.assertEqual(h["task_id"], task_id)
        self.assertFalse(h["more"])
        self.assertEqual(kinds(h), ["submitted", "started", "retry_scheduled", "started",
                                    "failed"])
        events = h["events"]
        self.assertEqual([e["seq"] for e in events], list(range(5)))
        self.assertEqual([e["attempt"] for e in events], [0, 1, 1, 2, 2])
        self.assertEqual([e["status"] for e in events],
                         ["PENDING", "PROCESSING", "PENDING", "PROCESSING", "FAILED"])
        for e in events:
            self.assertEqual(e["task_id"], task_id)
            self.assertEqual(e["type"], "fail")
            self.assertTrue(e["id"], e)
            self.assertTrue(e["at"].endswith("Z"), e)
        started, retry, failed = events[1], events[2], events[4]
        self.assertTrue(started["worker_id"])
        self.assertIsInstance(started["wait_ms"], int)
        self.assertGreaterEqual(started["wait_ms"], 0)
        self.assertIsNone(started["duration_ms"])
        self.assertEqual(retry["error"], "boom")
        self.assertIsInstance(retry["duration_ms"], int)
        self.assertIsNotNone(retry["scheduled_at"])
        self.assertEqual(failed["error"], "boom")
        # (The start names the node; the end, the node's slot that ran it.)
        self.assertTrue(failed["worker_id"].startswith(events[3]["worker_id"]), events)
        self.assertIsInstance(failed["duration_ms"], int)
        # A retry by request numbers on; its attempts start from one again.
        r = s.request("POST", "/v1/tasks/%s/retry" % task_id)
        self.assertEqual(r.status, 202, r.text)
        self.assertEqual(s.wait_terminal(task_id)["status"], "FAILED")
        h = self.history(task_id)
        self.assertEqual(kinds(h)[5:], ["retried", "started", "retry_scheduled", "started",
                                        "failed"])
        self.assertEqual([e["seq"] for e in h["events"]], list(range(10)))
        self.assertEqual(h["events"][6]["attempt"], 1)

    def test_a_cancelled_delayed_task_and_a_completed_one(self):
        s = self.server
        delayed = s.submit("sum", {"a": 1, "b": 2}, delay_ms=3600000)["id"]
        r = s.request("POST", "/v1/tasks/%s/cancel" % delayed)
        self.assertEqual(r.status, 200, r.text)
        h = self.history(delayed)
        self.assertEqual(kinds(h), ["submitted", "cancelled"])
        self.assertIsNotNone(h["events"][0]["scheduled_at"])
        done = s.submit("sum", {"a": 1, "b": 2})["id"]
        self.assertEqual(s.wait_terminal(done)["status"], "COMPLETED")
        h = self.history(done)
        self.assertEqual(kinds(h), ["submitted", "started", "completed"])
        self.assertIsNone(h["events"][2]["error"])
        # Each task's events are its own, and stream positions differ.
        ids = [e["id"] for e in h["events"]]
        self.assertEqual(len(set(ids)), 3)

    def test_stats_per_type_and_bucket(self):
        s = self.server
        ok = [s.submit("sum", {"a": i, "b": 1})["id"] for i in range(6)]
        bad = s.submit("fail", {"message": "boom"}, max_attempts=2)["id"]
        gone = s.submit("sum", {"a": 1, "b": 1}, delay_ms=3600000)["id"]
        self.assertEqual(s.request("POST", "/v1/tasks/%s/cancel" % gone).status, 200)
        for task_id in ok + [bad]:
            s.wait_terminal(task_id)
        r = s.request("GET", "/v1/stats?window=1h&bucket=1h")
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual((r.body["window_ms"], r.body["bucket_ms"]), (3600000, 3600000))
        by_type = {}
        for t in r.body["types"]:
            totals = by_type.setdefault(t["type"], {})
            for b in t["buckets"]:
                for key in ("submitted", "completed", "failed", "cancelled", "runs", "starts"):
                    totals[key] = totals.get(key, 0) + b[key]
                self.assertTrue(b["start"].endswith(":00:00.000Z"), b)
        self.assertEqual(by_type["sum"], {"submitted": 7, "completed": 6, "failed": 0,
                                          "cancelled": 1, "runs": 6, "starts": 6})
        self.assertEqual(by_type["fail"], {"submitted": 1, "completed": 0, "failed": 1,
                                           "cancelled": 0, "runs": 2, "starts": 2})
        for t in r.body["types"]:
            for b in t["buckets"]:
                if b["runs"]:
                    p = b["run_ms"]
                    self.assertLessEqual(p["p50"], p["p95"])
                    self.assertLessEqual(p["p95"], p["p99"])
                if b["starts"]:
                    self.assertGreaterEqual(b["wait_ms"]["p50"], 0)
        # The defaults, and what is refused.
        r = s.request("GET", "/v1/stats")
        self.assertEqual((r.body["window_ms"], r.body["bucket_ms"]), (3600000, 60000))
        for query in ("window=10d&bucket=1s", "window=40d", "bucket=0s", "window=1w",
                      "window=&bucket=x", "span=1h"):
            self.assertError(s.request("GET", "/v1/stats?" + query), 400, "bad_request")

    def test_unknown_and_malformed_ids(self):
        s = self.server
        r = s.request("GET", "/v1/tasks/0b1d9c3e-5a7f-4e2b-8c6d-1f2e3a4b5c6d/events")
        self.assertError(r, 404, "not_found")
        r = s.request("GET", "/v1/tasks/not-a-uuid/events")
        self.assertError(r, 400, "bad_request")
        r = s.request("POST", "/v1/tasks/0b1d9c3e-5a7f-4e2b-8c6d-1f2e3a4b5c6d/events")
        self.assertEqual(r.status, 405)

    def test_a_kill_9_loses_no_event_and_invents_none(self):
        s = self.server
        running = [s.submit("sleep", {"ms": 4000})["id"] for _ in range(2)]
        quick = [s.submit("sum", {"a": i, "b": 1})["id"] for i in range(30)]
        for task_id in running:
            s.wait_status(task_id, "PROCESSING")
        for task_id in quick:
            s.wait_terminal(task_id)
        s.kill9()
        s.restart()
        for task_id in running:
            self.assertEqual(s.wait_terminal(task_id, timeout=30)["status"], "COMPLETED")
        for task_id in running:
            h = self.history(task_id)
            # The attempt the kill cut off is a lost attempt, then it ran again.
            self.assertEqual(kinds(h), ["submitted", "started", "retry_scheduled", "started",
                                        "completed"], h)
            self.assertIn("lost", h["events"][2]["error"])
            self.assertEqual([e["seq"] for e in h["events"]], list(range(5)))
        for task_id in quick:
            self.assertEqual(kinds(self.history(task_id)), ["submitted", "started", "completed"])


class ParamsFilterTest(TaskerTestCase):
    """GET /v1/tasks?params=<JSON object>: tasks whose params contain it, with or without the
    GIN index that `params_index` makes."""

    def check(self, s, tag):
        ids = {}
        for i in range(12):
            params = {"text": "order %d %s" % (i % 3, tag), "top_n": 1 + (i % 2)}
            ids[s.submit("text_stats", params)["id"]] = params
        for task_id in ids:
            s.wait_terminal(task_id)
        want = sorted(i for i, p in ids.items()
                      if p["text"] == "order 1 " + tag and p["top_n"] == 2)
        q = urllib.parse.quote(json.dumps({"text": "order 1 " + tag, "top_n": 2}))
        got, pages = s.list_all("params=%s" % q, limit=1)
        self.assertEqual(sorted(t["id"] for t in got), want)
        self.assertGreaterEqual(pages, len(want))
        self.assertTrue(want)
        q = urllib.parse.quote(json.dumps({"text": "order 2 " + tag}))
        got, _ = s.list_all("params=%s&type=text_stats&status=COMPLETED" % q)
        self.assertEqual(len(got), 4)
        for bad in ("[1]", "{", '"x"', "{\"a\":" * 9 + "1" + "}" * 9):
            r = s.request("GET", "/v1/tasks?params=" + urllib.parse.quote(bad))
            self.assertError(r, 400, "bad_request")

    def test_without_the_index(self):
        s = start_server(name="params")
        self.addCleanup(s.close)
        self.check(s, "a")

    def test_with_the_index(self):
        s = start_server(extra_env={"TASKER_PARAMS_INDEX": "1"}, name="params-index")
        self.addCleanup(s.close)
        deadline = time.monotonic() + 20
        while not s.find_logs("params index built") and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(s.find_logs("params index built"))
        self.check(s, "a")
        # Made once: a restart finds it.
        s.restart()
        time.sleep(0.5)
        self.assertEqual(len(s.find_logs("params index built")), 1)
        self.check(s, "b")


if __name__ == "__main__":
    unittest.main()
