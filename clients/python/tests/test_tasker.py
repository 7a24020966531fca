"""Tests of the Python package (installed with pip) against a real tasker: the client's calls
and errors, the worker's handlers, retries, cancel, graceful stop, and 1,000 tasks through
worker processes, one of them killed with SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "e2e"))

import tasker  # noqa: E402  (the installed package, not the source tree)
from harness import TaskerTestCase, start_server  # noqa: E402

assert "site-packages" in tasker.__file__, tasker.__file__

TYPES = {"task_types": [
    {"name": name, "params": {"additionalProperties": True}, "max_attempts": 3, "run": "pull"}
    for name in ("square", "flaky", "broken", "slow")
]}

WORKER_SCRIPT = r"""
import sys, time
from tasker import Worker
worker = Worker(sys.argv[1], name=sys.argv[2], concurrency=8, poll_ms=1000)

@worker.task("square")
def square(params, task):
    time.sleep(params.get("sleep_ms", 0) / 1000)
    return {"square": params["n"] ** 2}

@worker.task("slow")
def slow(params, task):
    print("started", flush=True)
    task.cancelled.wait(params["seconds"])
    return {"done": True}

worker.run(grace=float(sys.argv[3]))
print("stopped", flush=True)
"""


class PythonPackageTest(TaskerTestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(TYPES, f)
        f.close()
        cls.types_file = f.name
        cls.server = start_server(extra_env={"TASKER_TASK_TYPES": cls.types_file,
                                             "TASKER_LEASE_TIMEOUT_MS": "1000",
                                             "TASKER_LOCAL_SLOTS": "4"},
                                  name="python")
        cls.url = "http://%s:%d" % (cls.server.host, cls.server.port)

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.close()
        os.unlink(cls.types_file)

    def setUp(self):
        self.client = tasker.Client(self.url)
        # Sessions of workers an earlier test killed would take tasks until
        # they expire (1 s here): each test starts without them.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            workers = self.server.request("GET", "/v1/workers").body["workers"]
            if not any(w["address"] == "http" and w["status"] in ("ALIVE", "SUSPECT",
                                                                    "DRAINING")
                       for w in workers):
                break
            time.sleep(0.1)

    def tearDown(self):
        self.client.close()

    def start_worker(self, **handlers):
        worker = tasker.Worker(self.url, name="in-test", concurrency=4, poll_ms=500)
        for type_, fn in handlers.items():
            worker.task(type_)(fn)
        th = threading.Thread(target=worker.run, kwargs={"handle_signals": False, "grace": 5})
        th.start()
        self.addCleanup(lambda: (worker.stop(), th.join(30)))
        return worker

    def spawn_worker(self, name, grace=30):
        p = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, self.url, name, str(grace)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait(10),
                                 p.stdout.close(), p.stderr.close()))
        return p

    # ------------------------------------------------------------------------------- client
    def test_client_submits_waits_lists_cancels_and_retries(self):
        t = self.client.submit("sum", {"a": 1, "b": 2}, priority=5, idempotency_key="py-1")
        self.assertEqual((t["type"], t["priority"]), ("sum", 5))
        self.assertEqual(self.client.wait(t["id"], timeout=20)["result"], {"sum": 3})
        again = self.client.submit("sum", {"a": 1, "b": 2}, priority=5, idempotency_key="py-1")
        self.assertEqual(again["id"], t["id"])
        batch = self.client.submit_batch([{"type": "sum", "params": {"a": i, "b": 1}}
                                          for i in range(3)])
        self.assertEqual(len(batch), 3)
        for b in batch:
            self.client.wait(b["id"], timeout=20)
        ids = {x["id"] for x in self.client.iter_tasks(type="sum", page_size=2)}
        self.assertTrue({t["id"]} | {b["id"] for b in batch} <= ids)
        slow = self.client.submit("sleep", {"ms": 60000})
        self.assertEqual(self.client.cancel(slow["id"])["status"], "CANCELLED")
        self.assertEqual(self.client.retry(slow["id"])["status"], "PENDING")
        self.client.cancel(slow["id"])
        self.assertIn("square", {x["type"] for x in self.client.task_types()})

    def test_client_errors_are_typed(self):
        with self.assertRaises(tasker.InvalidParams) as e:
            self.client.submit("sum", {"a": "x", "b": 1})
        self.assertEqual(e.exception.status, 422)
        self.assertEqual(e.exception.message, "params.a must be a number")
        with self.assertRaises(tasker.NotFound):
            self.client.get("00000000-0000-0000-0000-000000000000")
        with self.assertRaises(tasker.BadRequest):
            self.client.get("not-an-id")
        t = self.client.submit("sum", {"a": 1, "b": 1})
        self.client.wait(t["id"], timeout=20)
        with self.assertRaises(tasker.Conflict):
            self.client.cancel(t["id"])
        self.assertTrue(issubclass(tasker.Conflict, tasker.TaskerError))

    # ------------------------------------------------------------------------------- worker
    def test_worker_runs_handlers_retries_and_fails(self):
        tries = {}

        def flaky(params, task):
            tries[task.id] = task.attempt
            if task.attempt < 2:
                raise RuntimeError("not yet")
            return {"attempt": task.attempt}

        def broken(params, task):
            raise tasker.PermanentError("cannot ever work")

        self.start_worker(square=lambda p, t: {"square": p["n"] ** 2}, flaky=flaky,
                          broken=broken)
        sq = self.client.submit("square", {"n": 7})
        fl = self.client.submit("flaky", {})
        br = self.client.submit("broken", {})
        self.assertEqual(self.client.wait(sq["id"], 30)["result"], {"square": 49})
        done = self.client.wait(fl["id"], 30)
        self.assertEqual((done["status"], done["attempts"], done["result"]),
                         ("COMPLETED", 2, {"attempt": 2}))
        done = self.client.wait(br["id"], 30)
        self.assertEqual((done["status"], done["attempts"], done["error"]),
                         ("FAILED", 1, "cannot ever work"))

    def test_a_cancel_reaches_the_handler(self):
        started = threading.Event()
        seen = {}

        def slow(params, task):
            started.set()
            seen["cancelled"] = task.cancelled.wait(20)
            return None

        self.start_worker(slow=slow)
        t = self.client.submit("slow", {})
        self.assertTrue(started.wait(20))
        self.assertEqual(self.client.cancel(t["id"])["status"], "CANCELLED")
        deadline = time.monotonic() + 10
        while "cancelled" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(seen.get("cancelled"), "the handler was not told")

    def test_progress_reaches_clients_while_the_task_runs(self):
        release = threading.Event()

        def slow(params, task):
            task.progress({"step": 2, "of": 5})
            release.wait(20)
            return {"steps": 5}

        self.start_worker(slow=slow)
        t = self.client.submit("slow", {})
        deadline = time.monotonic() + 10
        while self.client.get(t["id"])["progress"] != {"step": 2, "of": 5}:
            self.assertLess(time.monotonic(), deadline, self.client.get(t["id"]))
            time.sleep(0.05)
        release.set()
        done = self.client.wait(t["id"], timeout=20)
        self.assertEqual((done["status"], done["result"], done["progress"]),
                         ("COMPLETED", {"steps": 5}, None))

    def test_sigterm_hands_back_what_it_cannot_finish(self):
        p = self.spawn_worker("stopping", grace=1)
        t = self.client.submit("slow", {"seconds": 600})
        self.assertEqual(p.stdout.readline().strip(), "started")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(20), 0)
        self.assertIn("stopped", p.stdout.read())
        # Handed back, not lost: it runs again (here, on another worker).
        self.start_worker(slow=lambda params, task: {"done": "elsewhere"})
        done = self.client.wait(t["id"], 30)
        self.assertEqual((done["status"], done["result"]), ("COMPLETED", {"done": "elsewhere"}))
        self.assertEqual(done["attempts"], 2)

    def test_a_thousand_tasks_survive_a_worker_killed_with_sigkill(self):
        ids = []
        for start in range(0, 1000, 500):
            ids += [t["id"] for t in self.client.submit_batch(
                [{"type": "square", "params": {"n": n, "sleep_ms": 5}}
                 for n in range(start, start + 500)])]
        first = self.spawn_worker("first")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            page = self.client.list(status="COMPLETED", type="square", limit=1000)
            if len(page["tasks"]) >= 200:
                break
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        self.spawn_worker("second")
        results = {}
        for tid in ids:
            t = self.client.wait(tid, timeout=120)
            self.assertEqual(t["status"], "COMPLETED", t)
            results[tid] = t["result"]["square"]
        self.assertEqual(sorted(results.values()), sorted(n * n for n in range(1000)))


if __name__ == "__main__":
    unittest.main()
