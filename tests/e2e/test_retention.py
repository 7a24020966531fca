"""Retention (docs/API.md, "Retention"): finished tasks older than `retention` are deleted in
small batches while submissions go on; unfinished tasks are never touched."""

import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import TaskerTestCase, start_server  # noqa: E402


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


class RetentionTest(TaskerTestCase):

    server = None

    def setUp(self):
        self.server = start_server(extra_env={
            "TASKER_RETENTION": "2s",
            "TASKER_RETENTION_INTERVAL_MS": "200",
            "TASKER_RETENTION_BATCH": "7",
            "TASKER_LOCAL_SLOTS": "4",
        }, name="retention")
        self.addCleanup(self.server.close)

    def test_only_old_finished_tasks_are_deleted_under_load(self):
        s = self.server
        old_done = [s.submit("sum", {"a": i, "b": 1})["id"] for i in range(40)]
        failed = s.submit("fail", {"message": "boom"}, max_attempts=1)["id"]
        for task_id in old_done + [failed]:
            self.assertIn(s.wait_terminal(task_id)["status"], ("COMPLETED", "FAILED"))
        # Unfinished: one due in an hour, one running for a while.
        delayed = s.submit("sum", {"a": 1, "b": 1}, delay_ms=3600000)["id"]
        running = s.submit("sleep", {"ms": 8000})["id"]
        s.wait_status(running, "PROCESSING")
        # Submissions go on while retention runs; each must be accepted and
        # readable right after.
        errors, fresh = [], []
        stop = threading.Event()

        def load():
            client = s.client()
            try:
                while not stop.is_set():
                    r = client.request("POST", "/v1/tasks",
                                       {"type": "sum", "params": {"a": 2, "b": 2}})
                    if r.status != 202:
                        errors.append(r.text[:200])
                        return
                    fresh.append(r.body["id"])
                    g = client.request("GET", "/v1/tasks/" + r.body["id"])
                    if g.status != 200:
                        errors.append("read after 202: %s %s" % (g.status, g.text[:200]))
                        return
                    time.sleep(0.01)
            finally:
                client.close()

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        try:
            deadline = time.monotonic() + 20
            gone = set()
            while time.monotonic() < deadline and len(gone) < len(old_done) + 1:
                for task_id in old_done + [failed]:
                    if task_id not in gone and s.request("GET", "/v1/tasks/" + task_id).status == 404:
                        gone.add(task_id)
                time.sleep(0.2)
        finally:
            stop.set()
            loader.join(timeout=30)
        self.assertEqual(errors, [])
        self.assertEqual(len(gone), len(old_done) + 1, "finished tasks older than 2 s remain")
        self.assertGreater(len(fresh), 20)
        # Unfinished tasks stay, whatever their age.
        self.assertEqual(s.get_task(delayed)["status"], "PENDING")
        self.assertEqual(s.get_task(running)["status"], "PROCESSING")
        # The newest finished tasks are younger than the retention: still there.
        young = fresh[-1]
        self.assertEqual(s.wait_terminal(young)["status"], "COMPLETED")
        self.assertEqual(s.get_task(young)["status"], "COMPLETED")
        # Lists no longer hold them either.
        listed = {t["id"] for t in s.list_all()[0]}
        self.assertFalse(listed & gone)
        self.assertIn(delayed, listed)
        # Counted and logged.
        text = s.request("GET", "/metrics").text
        self.assertGreaterEqual(metric(text, "tasker_retention_deleted_total"), len(gone))
        self.assertGreaterEqual(metric(text, "tasker_retention_passes_total"), 1)
        passes = s.find_logs("retention pass")
        self.assertTrue(passes)
        self.assertTrue(any(p.get("deleted", 0) > 0 for p in passes))
        self.assertTrue(all("finished_before" in p and "batches" in p for p in passes))


class RetentionConfigTest(unittest.TestCase):

    def test_a_bad_retention_is_refused_at_start(self):
        import subprocess
        binary = os.environ.get("TASKER_BIN", harness.DEFAULT_BIN)
        for value in ["7", "7w", "d", "-1d", "500ms"]:
            p = subprocess.run([binary, "serve", "--db-url", "postgresql://x@127.0.0.1/none",
                                "--retention", value], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
            self.assertEqual(p.returncode, 2, value)
            self.assertIn("retention", p.stderr.decode(), value)


if __name__ == "__main__":
    unittest.main()
