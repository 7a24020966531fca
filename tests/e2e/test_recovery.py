"""Crash recovery: a task that got a 202 is never lost (API.md, durability rule).

Submits ~200 sleep tasks (200-500 ms) and some sum tasks, kills the server with SIGKILL while
tasks are running and submissions are still arriving, restarts it against the same database,
and checks that every acknowledged id reaches COMPLETED with the right result within a bound.
"""

import json
import os
import random
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import HarnessError, TERMINAL, TaskerTestCase, start_server  # noqa: E402

SLOTS = 8
RECOVERY_DEADLINE_S = 60.0


class Acked:
    """Thread-safe record of acknowledged (202) ids and the result each must produce."""

    def __init__(self):
        self.lock = threading.Lock()
        self.expected = {}  # id -> expected result
        self.order = []

    def add(self, task_id, result):
        with self.lock:
            if task_id in self.expected:
                raise AssertionError("id %s acknowledged twice" % task_id)
            self.expected[task_id] = result
            self.order.append(task_id)

    def snapshot(self):
        with self.lock:
            return dict(self.expected), list(self.order)


def sleep_item(rng):
    ms = rng.randint(200, 500)
    return {"type": "sleep", "params": {"ms": ms}}, {"slept_ms": ms}


def sum_item(rng):
    a, b = rng.randint(-1000, 1000), rng.randint(0, 10 ** 6)
    return {"type": "sum", "params": {"a": a, "b": b}}, {"sum": a + b}


class RecoveryTest(TaskerTestCase):

    server = None

    def setUp(self):
        self.server = start_server(extra_env={"TASKER_LOCAL_SLOTS": str(SLOTS)}, name="recovery")
        self.rng = random.Random(20261122)

    def tearDown(self):
        if self.server is not None:
            self.server.close()

    # ------------------------------------------------------------------ helpers
    def submit_batch(self, acked, items):
        r = self.server.request("POST", "/v1/tasks/batch", {"tasks": [b for b, _ in items]})
        self.assertEqual(r.status, 202, r.text[:500])
        self.assertEqual(len(r.body["tasks"]), len(items))
        for (body, result), t in zip(items, r.body["tasks"]):
            self.assertEqual(t["params"], body["params"])
            acked.add(t["id"], result)

    def submit_one(self, client, acked, body, result):
        """True if acknowledged; False if the server was unreachable (not acknowledged)."""
        try:
            r = client.request("POST", "/v1/tasks", body, timeout=10)
        except HarnessError:
            return False
        if r.status != 202:
            if r.status >= 500 or r.status == 429:
                return False
            raise AssertionError("submit %s -> %s %s" % (body, r.status, r.text[:300]))
        acked.add(r.body["id"], result)
        return True

    def submitter(self, acked, stop, n, seed, errors):
        """Background single submits; stops at the first refused connection (the kill)."""
        rng = random.Random(seed)
        client = self.server.client(timeout=10)
        try:
            for i in range(n):
                if stop.is_set():
                    return
                body, result = sum_item(rng) if i % 5 == 0 else sleep_item(rng)
                if not self.submit_one(client, acked, body, result):
                    return
                time.sleep(0.01)
        except BaseException as e:  # surfaced by the test thread
            errors.append(e)
        finally:
            client.close()

    def counts(self):
        r = self.server.request("GET", "/v1/tasks?limit=1000")
        self.assertEqual(r.status, 200, r.text[:300])
        out = {}
        for t in r.body["tasks"]:
            out[t["status"]] = out.get(t["status"], 0) + 1
        return out, r.body["tasks"]

    def wait_mid_flight(self, acked, min_acked, timeout=20.0):
        """Wait until tasks are running and some have completed, bounded."""
        deadline = time.monotonic() + timeout
        while True:
            counts, tasks = self.counts()
            n_acked = len(acked.snapshot()[1])
            if (counts.get("PROCESSING", 0) >= 1 and counts.get("COMPLETED", 0) >= 3
                    and n_acked >= min_acked):
                return counts, tasks
            if time.monotonic() > deadline:
                self.fail("never mid-flight within %.0fs: counts %s, acked %d"
                          % (timeout, counts, n_acked))
            time.sleep(0.05)

    def check_all_completed(self, acked, completed_before, deadline_s=RECOVERY_DEADLINE_S):
        expected, order = acked.snapshot()
        s = self.server
        # durability first: right after /ready, every acknowledged id exists
        missing = []
        for tid in order:
            r = s.request("GET", "/v1/tasks/" + tid)
            if r.status != 200:
                missing.append((tid, r.status))
        self.assertEqual(missing, [], "%d of %d acknowledged tasks lost after restart: %s"
                         % (len(missing), len(order), missing[:10]))
        # then every one reaches COMPLETED within the bound
        deadline = time.monotonic() + deadline_s
        bad = []
        for tid in order:
            remaining = deadline - time.monotonic()
            if remaining > 0.5:
                try:
                    t = s.wait_terminal(tid, remaining)
                except HarnessError:
                    t = s.get_task(tid)
            else:
                t = s.get_task(tid)
            problem = None
            if t["status"] != "COMPLETED":
                problem = "status %s" % t["status"]
            elif t["result"] != expected[tid]:
                problem = "result %s, expected %s" % (t["result"], expected[tid])
            elif not (1 <= t["attempts"] <= t["max_attempts"]):
                problem = "attempts %s of max %s" % (t["attempts"], t["max_attempts"])
            if problem:
                bad.append("%s: %s (%s)" % (tid, problem, json.dumps(t)[:400]))
        self.assertEqual(bad, [], "%d of %d acknowledged tasks not COMPLETED correctly within "
                                  "%.0fs of restart:\n%s"
                         % (len(bad), len(order), deadline_s, "\n".join(bad[:15])))
        # terminal tasks never change again, not even across a crash
        changed = []
        for old in completed_before:
            new = s.get_task(old["id"])
            for f in ("status", "result", "attempts", "completed_at"):
                if new[f] != old[f]:
                    changed.append("%s: %s %r -> %r" % (old["id"], f, old[f], new[f]))
        self.assertEqual(changed, [], "completed tasks changed across the crash:\n%s"
                         % "\n".join(changed[:15]))
        return len(order)

    # ------------------------------------------------------------------ tests
    def test_kill9_mid_flight_then_restart_loses_nothing(self):
        s = self.server
        acked = Acked()
        # ~120 sleeps in batches plus 20 sums one by one
        for _ in range(3):
            self.submit_batch(acked, [sleep_item(self.rng) for _ in range(40)])
        client = s.client()
        try:
            for _ in range(20):
                body, result = sum_item(self.rng)
                self.assertTrue(self.submit_one(client, acked, body, result))
        finally:
            client.close()
        # ~80 more sleeps (and a few sums) keep arriving while the server is killed
        stop, errors = threading.Event(), []
        threads = [threading.Thread(target=self.submitter,
                                    args=(acked, stop, 50, seed, errors), daemon=True)
                   for seed in (1, 2)]
        for t in threads:
            t.start()
        _, tasks = self.wait_mid_flight(acked, min_acked=150)
        completed_before = [t for t in tasks if t["status"] == "COMPLETED"]
        s.kill9()
        stop.set()
        for t in threads:
            t.join(15)
            self.assertFalse(t.is_alive(), "a submitter thread hung after the kill")
        self.assertEqual(errors, [])
        n = len(acked.snapshot()[1])
        self.assertGreaterEqual(n, 150)
        s.start()
        self.check_all_completed(acked, completed_before)

    def test_kill9_twice_including_during_recovery(self):
        s = self.server
        acked = Acked()
        self.submit_batch(acked, [sleep_item(self.rng) for _ in range(40)]
                          + [sum_item(self.rng) for _ in range(10)])
        _, tasks = self.wait_mid_flight(acked, min_acked=50)
        completed_before = [t for t in tasks if t["status"] == "COMPLETED"]
        s.kill9()
        s.start()
        time.sleep(0.3)  # recovered tasks are running again
        s.kill9()
        s.start()
        self.check_all_completed(acked, completed_before)
        # a clean restart afterwards changes nothing
        self.assertEqual(s.stop(), 0, "SIGTERM should exit 0")
        s.start()
        expected, order = acked.snapshot()
        for tid in order:
            t = s.get_task(tid)
            self.assertEqual((t["status"], t["result"]), ("COMPLETED", expected[tid]))


class DelayedTasksTest(TaskerTestCase):
    """Tasks due beyond the horizon wait in the database, not in memory."""

    def setUp(self):
        self.server = start_server(extra_env={"TASKER_LOCAL_SLOTS": "2",
                                              "TASKER_DELAY_HORIZON_MS": "1000"},
                                   name="delayed")

    def tearDown(self):
        self.server.close()

    def manager(self):
        r = self.server.request("GET", "/v1/cluster")
        self.assertEqual(r.status, 200, r.text)
        return r.body["task_manager"]

    def test_far_tasks_have_no_actor_until_they_come_due(self):
        s = self.server
        before = self.manager()["live_task_actors"]
        far = [s.submit("sum", {"a": i, "b": 1}, delay_ms=3500)["id"] for i in range(20)]
        near = s.submit("sum", {"a": 1, "b": 1})["id"]
        m = self.manager()
        self.assertEqual(m["delayed_parked"], 20, m)
        self.assertLessEqual(m["live_task_actors"], before + 1, m)
        # they read as PENDING from the database meanwhile
        t = s.get_task(far[0])
        self.assertEqual(t["status"], "PENDING", t)
        self.assertEqual(s.wait_terminal(near, 10)["result"], {"sum": 2})
        # cancelled while waiting in the database: it never runs
        r = s.request("POST", "/v1/tasks/%s/cancel" % far[1])
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.body["status"], "CANCELLED", r.text)
        self.assertError(s.request("POST", "/v1/tasks/%s/cancel" % far[1]), 409, "conflict")
        # the others are loaded as they come within the horizon and run on time
        for i, tid in enumerate(far):
            t = s.wait_terminal(tid, 20)
            if i == 1:
                self.assertEqual(t["status"], "CANCELLED", t)
                self.assertIsNone(t["started_at"], t)
                continue
            self.assertEqual(t["status"], "COMPLETED", t)
            self.assertEqual(t["result"], {"sum": i + 1}, t)
            self.assertGreaterEqual(t["started_at"], t["scheduled_at"], t)
        self.assertGreaterEqual(self.manager()["loaded_from_database"], 19)

    def test_parked_tasks_survive_a_restart(self):
        s = self.server
        ids = [s.submit("sum", {"a": i, "b": 2}, delay_ms=2500)["id"] for i in range(5)]
        s.kill9()
        s.start()
        for i, tid in enumerate(ids):
            t = s.wait_terminal(tid, 20)
            self.assertEqual(t["status"], "COMPLETED", t)
            self.assertEqual(t["result"], {"sum": i + 2}, t)


class UnsupervisedActorTest(TaskerTestCase):
    """Nothing restarts the task manager or the reader in place: when one dies, the coordinator
    stops with exit code 1 (for the process supervisor to start it again), and the next start
    recovers every task."""

    def test_a_dead_task_manager_or_reader_stops_the_coordinator(self):
        for actor in ("task_manager", "reader"):
            with self.subTest(actor=actor):
                server = start_server(extra_env={"TASKER_FAULT_INJECTION": "1"},
                                      name="unsupervised-" + actor)
                try:
                    # A delayed task waits in the database: only recovery can bring it back.
                    task = server.submit("sum", {"a": 1, "b": 2}, delay_ms=600000)
                    r = server.request("POST", "/v1/debug/crash/" + actor)
                    self.assertEqual(r.status, 202, r.text)
                    deadline = time.monotonic() + 15
                    while server.is_running() and time.monotonic() < deadline:
                        time.sleep(0.05)
                    self.assertFalse(server.is_running(),
                                     "still running 15 s after its %s died" % actor)
                    self.assertEqual(server.proc.returncode, 1)
                    self.assertTrue(server.find_logs("an unsupervised actor died; stopping",
                                                     actor=actor), server.log_tail())
                    server.restart()
                    again = server.get_task(task["id"])
                    self.assertEqual(again["status"], "PENDING")
                    self.assertEqual(again["params"], {"a": 1, "b": 2})
                finally:
                    server.close()


if __name__ == "__main__":
    unittest.main()
