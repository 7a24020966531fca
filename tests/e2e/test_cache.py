"""The Redis status cache (docs/API.md, "Redis status cache"), against a real redis-server.

Each test starts its own redis-server on a unix socket in a temporary directory, so that it can
kill it and start it again, and a tasker coordinator with TASKER_RESULT_CACHE_SIZE=0: a finished
task then leaves memory at once, and every read of it goes to Redis, then to PostgreSQL.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import HarnessError, TaskerTestCase, start_server  # noqa: E402

REDIS_START_TIMEOUT_S = 10.0


class RedisServer:
    """A private redis-server on a unix socket, nothing saved to disk."""

    def __init__(self):
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise unittest.SkipTest("redis-server and redis-cli are not installed")
        self.dir = tempfile.mkdtemp(prefix="tasker-redis-")
        self.socket = os.path.join(self.dir, "redis.sock")
        self.proc = None

    @property
    def url(self):
        return "unix://" + self.socket

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.socket,
             "--unixsocketperm", "700", "--dir", self.dir, "--save", "",
             "--appendonly", "no", "--logfile", os.path.join(self.dir, "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError("redis-server exited with %s" % self.proc.returncode)
            try:
                if self.cli("PING") == "PONG":
                    return self
            except HarnessError:
                pass
            time.sleep(0.05)
        raise HarnessError("redis-server did not answer within %.0fs" % REDIS_START_TIMEOUT_S)

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        if os.path.exists(self.socket):
            os.unlink(self.socket)

    def close(self):
        self.kill9()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args):
        p = subprocess.run(["redis-cli", "-s", self.socket, "--raw"] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        if p.returncode != 0:
            raise HarnessError("redis-cli %s failed: %s" % (args, p.stderr.decode().strip()))
        out = p.stdout.decode(errors="replace")
        if out.startswith("Could not connect"):
            raise HarnessError(out.strip())
        return out.rstrip("\n")


class CacheTestBase(TaskerTestCase):

    server = None

    def setUp(self):
        self.redis = RedisServer().start()
        self.addCleanup(self.redis.close)
        self.server = start_server(extra_env={
            "TASKER_REDIS_URL": self.redis.url,
            "TASKER_RESULT_CACHE_SIZE": "0",
            "TASKER_LOCAL_SLOTS": "4",
            "TASKER_CACHE_TIMEOUT_MS": "100",
        }, name="cache")
        self.addCleanup(self.server.close)

    def cache_status(self):
        r = self.server.request("GET", "/v1/cluster")
        self.assertEqual(r.status, 200, r.text[:300])
        return r.body["cache"]

    def key(self, task_id):
        return self.cache_status()["key_prefix"] + task_id

    def entry(self, task_id):
        text = self.redis.cli("GET", self.key(task_id))
        return json.loads(text) if text else None

    def wait_entry(self, task_id, status, timeout=10.0):
        """Waits until Redis holds the task's entry with this status."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.entry(task_id)
            except ValueError:
                last = "(not JSON)"
            if isinstance(last, dict) and last.get("status") == status:
                return last
            time.sleep(0.05)
        self.fail("Redis did not get task %s as %s within %.0fs; last: %r"
                  % (task_id, status, timeout, last))

    def finished_task(self, a=2, b=3):
        task = self.server.submit("sum", {"a": a, "b": b})
        done = self.server.wait_terminal(task["id"])
        self.assertEqual(done["status"], "COMPLETED")
        self.wait_entry(task["id"], "COMPLETED")
        return done


class CacheReadTest(CacheTestBase):

    def test_ready_and_cluster_say_the_cache_is_up(self):
        r = self.server.request("GET", "/ready")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body["cache"], "up")
        status = self.cache_status()
        self.assertEqual(status["state"], "up")
        self.assertTrue(status["key_prefix"].startswith("tasker:task:"))

    def test_a_finished_task_is_read_from_the_cache(self):
        done = self.finished_task(20, 22)
        before = self.cache_status()
        got = self.server.get_task(done["id"])
        after = self.cache_status()
        self.assertEqual(got["status"], "COMPLETED")
        self.assertEqual(got["result"], {"sum": 42})
        self.assertEqual(got["params"], {"a": 20, "b": 22})
        self.assertEqual(after["hits"], before["hits"] + 1)
        self.assertEqual(after["db_fallbacks"], before["db_fallbacks"])
        # What the cache answered is what the database holds.
        self.assertEqual(got["id"], done["id"])
        self.assertEqual(got["attempts"], done["attempts"])
        self.assertEqual(got["completed_at"], done["completed_at"])

    def test_a_missing_entry_is_read_from_the_database_and_written_back(self):
        done = self.finished_task()
        self.assertEqual(self.redis.cli("DEL", self.key(done["id"])), "1")
        before = self.cache_status()
        got = self.server.get_task(done["id"])
        self.assertEqual(got["result"], {"sum": 5})
        after = self.cache_status()
        self.assertEqual(after["misses"], before["misses"] + 1)
        self.assertEqual(after["db_fallbacks"], before["db_fallbacks"] + 1)
        healed = self.wait_entry(done["id"], "COMPLETED")
        self.assertEqual(json.loads(healed["result"]), {"sum": 5})
        # The next read is a hit again.
        self.server.get_task(done["id"])
        self.assertEqual(self.cache_status()["hits"], after["hits"] + 1)

    def test_a_corrupt_entry_is_healed(self):
        done = self.finished_task(7, 8)
        key = self.key(done["id"])
        for garbage in ["not json", json.dumps({"v": 1, "id": done["id"]}),
                        json.dumps({"v": 1, "id": "someone-else", "status": "COMPLETED"})]:
            self.assertEqual(self.redis.cli("SET", key, garbage), "OK")
            before = self.cache_status()
            got = self.server.get_task(done["id"])
            self.assertEqual(got["status"], "COMPLETED")
            self.assertEqual(got["result"], {"sum": 15})
            after = self.cache_status()
            self.assertEqual(after["corrupt"], before["corrupt"] + 1, garbage)
            self.wait_entry(done["id"], "COMPLETED")
        self.assertTrue(self.server.find_logs("Cache entry of task %s is corrupt" % done["id"]))
        # A key of another type (a list) is corrupt too, and replaced.
        self.assertEqual(self.redis.cli("DEL", key), "1")
        self.assertEqual(self.redis.cli("RPUSH", key, "x"), "1")
        before = self.cache_status()
        got = self.server.get_task(done["id"])
        self.assertEqual(got["result"], {"sum": 15})
        self.assertEqual(self.cache_status()["corrupt"], before["corrupt"] + 1)
        self.wait_entry(done["id"], "COMPLETED")
        self.assertEqual(self.cache_status()["state"], "up")

    def test_a_planted_entry_cannot_make_a_finished_task_run_again(self):
        # Retry decides a write: it reads the database, whatever the cache says.
        done = self.finished_task(3, 4)
        entry = self.entry(done["id"])
        entry["status"] = "FAILED"
        entry["error"] = "planted"
        self.assertEqual(self.redis.cli("SET", self.key(done["id"]), json.dumps(entry)), "OK")
        r = self.server.request("POST", "/v1/tasks/%s/retry" % done["id"])
        self.assertError(r, 409, "conflict")
        # A deeply nested planted result is refused, not sent to a client.
        entry["status"] = "COMPLETED"
        entry["result"] = "[" * 5000 + "]" * 5000
        self.assertEqual(self.redis.cli("SET", self.key(done["id"]), json.dumps(entry)), "OK")
        got = self.server.get_task(done["id"])
        self.assertEqual(got["result"], {"sum": 7})

    def test_an_entry_that_disagrees_with_the_database_is_logged_and_healed(self):
        done = self.finished_task(1, 1)
        entry = self.entry(done["id"])
        entry["status"] = "PROCESSING"
        entry["result"] = ""
        self.assertEqual(self.redis.cli("SET", self.key(done["id"]), json.dumps(entry)), "OK")
        got = self.server.get_task(done["id"])
        # A non-terminal entry is never the answer for a task that is not in memory.
        self.assertEqual(got["status"], "COMPLETED")
        self.assertEqual(got["result"], {"sum": 2})
        self.assertEqual(self.cache_status()["inconsistent"], 1)
        self.assertTrue(self.server.find_logs(
            "Task %s cache-database consistency issue detected" % done["id"]))
        self.wait_entry(done["id"], "COMPLETED")

    def test_an_unknown_task_is_404_and_not_cached(self):
        r = self.server.request("GET", "/v1/tasks/00000000-0000-4000-8000-000000000000")
        self.assertError(r, 404, "not_found")
        self.assertEqual(self.redis.cli("EXISTS", self.key("00000000-0000-4000-8000-000000000000")),
                         "0")


class CacheOutageTest(CacheTestBase):

    def test_redis_killed_mid_load_and_brought_back(self):
        ids, errors = [], []
        stop = threading.Event()

        def submit_loop():
            client = self.server.client()
            try:
                while not stop.is_set():
                    r = client.request("POST", "/v1/tasks",
                                       {"type": "sum", "params": {"a": len(ids), "b": 1}})
                    if r.status != 202:
                        errors.append((r.status, r.text[:200]))
                        return
                    ids.append((r.body["id"], len(ids)))
                    time.sleep(0.005)
            finally:
                client.close()

        loader = threading.Thread(target=submit_loop, daemon=True)
        loader.start()
        try:
            time.sleep(1.0)
            self.redis.kill9()
            # Submissions go on; /ready stays 200 and says the cache is down.
            deadline = time.monotonic() + 10
            ready = None
            while time.monotonic() < deadline:
                ready = self.server.request("GET", "/ready")
                if ready.status == 200 and ready.body.get("cache") == "down":
                    break
                time.sleep(0.1)
            self.assertEqual(ready.status, 200, ready.text)
            self.assertEqual(ready.body["cache"], "down", ready.text)
            time.sleep(1.5)
            count_down = len(ids)
        finally:
            stop.set()
            loader.join(timeout=30)
        self.assertEqual(errors, [])
        self.assertGreater(count_down, 50)
        # Nothing was lost, and reads of finished tasks work with Redis down.
        for task_id, a in ids:
            done = self.server.wait_terminal(task_id)
            self.assertEqual(done["status"], "COMPLETED")
            self.assertEqual(done["result"], {"sum": a + 1})
        status = self.cache_status()
        self.assertEqual(status["state"], "down")
        self.assertGreater(status["write_errors"], 0)
        self.assertGreater(status["write_failures"], 0)
        self.assertTrue(self.server.find_logs("will self-heal on next read"))
        self.assertTrue(self.server.find_logs("falling back to database"))
        # Redis comes back (empty): the cache is up again within seconds, and
        # a read of a task whose write failed fills its entry.
        prefix = status["key_prefix"]
        self.redis.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.cache_status()["state"] != "up":
            time.sleep(0.1)
        self.assertEqual(self.cache_status()["state"], "up")
        # Another server (this one started empty, but one restored from disk
        # could hold older entries): what was written before is left unread.
        self.assertNotEqual(self.cache_status()["key_prefix"], prefix)
        task_id, a = ids[-1]
        got = self.server.get_task(task_id)
        self.assertEqual(got["result"], {"sum": a + 1})
        self.wait_entry(task_id, "COMPLETED")
        fresh = self.finished_task(100, 1)
        self.assertEqual(self.server.get_task(fresh["id"])["result"], {"sum": 101})


class CacheConfigTest(unittest.TestCase):

    def test_a_bad_redis_url_is_refused_at_start(self):
        binary = os.environ.get("TASKER_BIN", harness.DEFAULT_BIN)
        for url, words in [("http://127.0.0.1:6379", "redis://"),
                           ("redis://127.0.0.1:99999", "Port"),
                           ("redis://127.0.0.1:6379/x", "database number"),
                           ("rediss://127.0.0.1", "TLS")]:
            p = subprocess.run([binary, "serve", "--db-url", "postgresql://x@127.0.0.1/none",
                                "--redis-url", url], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
            self.assertEqual(p.returncode, 2, url)
            err = p.stderr.decode()
            self.assertIn("redis_url", err, url)
            self.assertIn(words, err, url)


if __name__ == "__main__":
    unittest.main()
