"""The command-line client (README, "Command-line client"): `tasker submit`, `get`, `list`,
`cancel`, `retry`, `events`, `workers`, `drain` and `types` run as subprocesses against a real
server, checked by their exit codes, their output and what the API then shows.

Exit codes: 0 success (with --wait: COMPLETED), 1 FAILED or CANCELLED with --wait, 2 usage
error, 3 server not reached, 4 the server answered an error."""

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import UUID_RE, TaskerTestCase, free_port, start_server  # noqa: E402

CLI_TIMEOUT_S = 60.0


class Streamed:
    """A long-running CLI process whose stdout and stderr lines are read in threads."""

    def __init__(self, args, env):
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = queue.Queue()
        self.err = queue.Queue()
        self.err_lines = []
        self.readers = [threading.Thread(target=self._drain, args=(stream, q), daemon=True)
                        for stream, q in ((self.proc.stdout, self.out),
                                          (self.proc.stderr, self.err))]
        for t in self.readers:
            t.start()

    @staticmethod
    def _drain(stream, q):
        for raw in iter(stream.readline, b""):
            q.put(raw.decode("utf-8", errors="replace").rstrip("\n"))
        q.put(None)

    def wait_stderr(self, needle, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.err.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.err_lines.append(line)
            if needle in line:
                return line
        raise AssertionError("no %r on stderr within %.0fs; stderr: %s"
                             % (needle, timeout, self.err_lines))

    def stdout_until(self, done, timeout):
        """Lines of stdout until done(lines) or the deadline."""
        lines = []
        deadline = time.monotonic() + timeout
        while not done(lines) and time.monotonic() < deadline:
            try:
                line = self.out.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            lines.append(line)
        return lines

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for t in self.readers:
            t.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()


class CliCase(TaskerTestCase):
    """Runs the client against cls.server, with no config file of the user's."""

    @classmethod
    def setUpClass(cls):
        cls.server = start_server()
        cls.home = tempfile.TemporaryDirectory(prefix="tasker-cli-home-")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        cls.home.cleanup()

    def env(self, url=True, **extra):
        env = {k: v for k, v in os.environ.items()
               if k not in ("TASKER_URL", "TASKER_TOKEN", "TASKER_CLI_CONFIG")}
        env["HOME"] = self.home.name
        if url:
            env["TASKER_URL"] = self.server.base_url
        env.update(extra)
        return env

    def cli(self, *args, env=None, input=None, timeout=CLI_TIMEOUT_S):
        p = subprocess.run([self.server.binary] + [str(a) for a in args],
                           env=self.env() if env is None else env,
                           input=input.encode() if input is not None else None,
                           stdin=None if input is not None else subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        p.out = p.stdout.decode("utf-8", errors="replace")
        p.err = p.stderr.decode("utf-8", errors="replace")
        return p

    def ok(self, *args, code=0, **kw):
        p = self.cli(*args, **kw)
        self.assertEqual(p.returncode, code, "tasker %s -> %d\nstdout: %s\nstderr: %s"
                         % (" ".join(map(str, args)), p.returncode, p.out[-2000:],
                            p.err[-2000:]))
        return p

    def count(self, query):
        tasks, _ = self.server.list_all(query)
        return len(tasks)


class ClientCommandsTest(CliCase):

    def test_submit_with_params_and_wait_completes(self):
        p = self.ok("submit", "sum", "a=1", "b=2", "--wait")
        self.assertIn("COMPLETED", p.out)
        self.assertIn('{"sum":3}', p.out)
        p = self.ok("submit", "text_stats", "text=the cat and the hat", "top_n:=2", "--wait",
                    "--json")
        task = json.loads(p.out)
        self.assertEqual(task["status"], "COMPLETED")
        self.assertEqual(task["params"], {"text": "the cat and the hat", "top_n": 2})
        self.assertEqual(task["result"]["top_words"][0], {"word": "the", "count": 2})

    def test_submit_prints_the_id_and_sends_every_option(self):
        key = "cli-" + uuid.uuid4().hex
        p = self.ok("submit", "sum", "a=1", "b:=2.5", "--priority", "3", "--max-attempts=2",
                    "--timeout", "30s", "--delay", "1500ms", "--idempotency-key", key)
        task_id = p.out.strip()
        self.assertRegex(task_id, UUID_RE)
        task = self.server.get_task(task_id)
        self.assertEqual(task["params"], {"a": 1, "b": 2.5})
        self.assertEqual((task["priority"], task["max_attempts"], task["timeout_ms"]),
                         (3, 2, 30000))
        self.assertEqual(task["idempotency_key"], key)
        created = harness_time(task["created_at"])
        scheduled = harness_time(task["scheduled_at"])
        self.assertAlmostEqual(scheduled - created, 1.5, delta=0.1)
        # The same key and body: the first task again.
        p = self.ok("submit", "sum", "a=1", "b:=2.5", "--priority", "3", "--max-attempts=2",
                    "--timeout", "30s", "--delay", "1500ms", "--idempotency-key", key)
        self.assertEqual(p.out.strip(), task_id)
        # --params is the base that key=value arguments add to; JSON-looking values are JSON.
        p = self.ok("submit", "text_stats", "--params", '{"text": "a b", "top_n": 5}',
                    "top_n=1", "--json")
        self.assertEqual(json.loads(p.out)["params"], {"text": "a b", "top_n": 1})

    def test_a_failing_task_with_wait_exits_1(self):
        p = self.ok("submit", "fail", "message=boom", "retryable=false", "--wait", code=1)
        self.assertIn("FAILED", p.out)
        self.assertIn("boom", p.out)
        task_id = [l.split()[-1] for l in p.out.splitlines() if l.startswith("id:")][0]
        p = self.ok("get", task_id, "--wait", "--json", code=1)
        self.assertEqual(json.loads(p.out)["status"], "FAILED")
        # A wait that runs out before the task ends: exit 1 too, with the task as it is.
        p = self.ok("submit", "sleep", "ms=60000", code=0)
        slow = p.out.strip()
        t0 = time.monotonic()
        p = self.ok("get", slow, "--wait", "--timeout", "700ms", "--json", code=1)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn(json.loads(p.out)["status"], ("PENDING", "PROCESSING"))
        self.assertIn("still", p.err)
        self.ok("cancel", slow)

    def test_usage_errors_exit_2_and_send_nothing(self):
        before = self.count("type=sum")
        for args in (["submit"],
                     ["submit", "a=1"],
                     ["submit", "sum", "a:=nope"],
                     ["submit", "sum", "a=1", "--delay", "10parsecs"],
                     ["submit", "sum", "a=1", "--priority", "high"],
                     ["submit", "sum", "a=1", "--run-at", "tomorrow"],
                     ["submit", "sum", "a=1", "--bogus"],
                     ["submit", "sum", "a=1", "--batch", "5"],
                     ["submit", "--file", "/nonexistent/tasks.jsonl"],
                     ["get", "not-a-uuid"],
                     ["get"],
                     ["get", str(uuid.uuid4()), "--timeout", "5s"],
                     ["list", "--limit", "0"],
                     ["list", "extra"],
                     ["events"],
                     ["events", str(uuid.uuid4()), "--kind", "failed"],
                     ["cancel"],
                     ["--url", "localhost:8080", "list"],
                     ["help", "nosuch"],
                     ["nosuchcommand"]):
            p = self.cli(*args)
            self.assertEqual(p.returncode, 2, "%s -> %d: %s %s" % (args, p.returncode, p.out,
                                                                   p.err))
            self.assertTrue(p.err.strip(), "no message for %s" % args)
        self.assertEqual(self.count("type=sum"), before)

    def test_help_documents_the_commands_and_exit_codes(self):
        p = self.ok("help")
        for word in ("submit", "events", "drain", "TASKER_URL", "exit codes", "4  the server"):
            self.assertIn(word, p.out)
        p = self.ok("--help", env=self.env(url=False))
        self.assertIn("serve", p.out)
        self.assertIn("client commands", p.out)
        self.assertIn("3  the server could not be reached", p.out)
        p = self.ok("submit", "--help")
        self.assertIn("--no-derived-keys", p.out)
        self.assertIn("--idempotency-key", self.ok("help", "submit").out)

    def test_an_unreachable_server_exits_3(self):
        url = "http://127.0.0.1:%d" % free_port()
        p = self.ok("--url", url, "list", code=3)
        self.assertIn("cannot reach", p.err)
        self.ok("submit", "sum", "a=1", "b=2", "--url", url, code=3)
        self.ok("events", "--follow", "--url", url, code=3, timeout=30)
        p = self.ok("list", env=self.env(TASKER_URL="http://no-such-host.invalid:8080"),
                    code=3)
        self.assertIn("cannot reach", p.err)

    def test_server_errors_exit_4_with_the_api_code(self):
        p = self.ok("get", str(uuid.uuid4()), code=4)
        self.assertIn("not_found", p.err)
        p = self.ok("submit", "sum", "a=x", "b=1", code=4)
        self.assertIn("invalid_params", p.err)
        self.assertIn("params.a", p.err)
        self.ok("submit", "no_such_type", code=4)
        done = self.ok("submit", "sum", "a=1", "b=1", "--wait", "--json")
        p = self.ok("cancel", json.loads(done.out)["id"], code=4)
        self.assertIn("conflict", p.err)

    def test_list_get_cancel_retry(self):
        p = self.ok("submit", "sleep", "ms=60000")
        slow = p.out.strip()
        p = self.ok("list", "--type", "sleep", "--limit", "1000")
        self.assertTrue(p.out.startswith("ID "), p.out[:200])
        self.assertIn(slow, p.out)
        p = self.ok("get", slow)
        self.assertIn("id:", p.out)
        self.assertIn("type:", p.out)
        self.assertIn(slow, p.out)
        p = self.ok("cancel", slow)
        self.assertIn("CANCELLED", p.out)
        self.assertEqual(self.server.get_task(slow)["status"], "CANCELLED")
        p = self.ok("list", "--status", "cancelled", "--json")
        self.assertIn(slow, [t["id"] for t in json.loads(p.out)["tasks"]])
        p = self.ok("retry", slow, "--json")
        self.assertIn(json.loads(p.out)["status"], ("PENDING", "PROCESSING"))
        self.assertIn(self.server.get_task(slow)["status"], ("PENDING", "PROCESSING"))
        self.ok("cancel", slow)
        # --all follows next_cursor: every sum task, two a page.
        for i in range(5):
            self.ok("submit", "sum", "a=%d" % i, "b=0")
        p = self.ok("list", "--type", "sum", "--all", "--limit", "2", "--json")
        listed = json.loads(p.out)["tasks"]
        self.assertEqual(len(listed), self.count("type=sum"))
        self.assertEqual(len({t["id"] for t in listed}), len(listed))
        p = self.ok("list", "--type", "sum", "--all", "--limit", "2")
        self.assertEqual(len(p.out.splitlines()), 1 + len(listed))
        p = self.ok("list", "--type", "sum", "--limit", "2", "--json")
        page = json.loads(p.out)
        self.assertEqual(len(page["tasks"]), 2)
        self.assertIsInstance(page["next_cursor"], str)

    def test_workers_drain_and_types(self):
        p = self.ok("workers")
        self.assertIn("STATUS", p.out.splitlines()[0])
        self.assertIn("ALIVE", p.out)
        workers = json.loads(self.ok("workers", "--json").out)["workers"]
        self.assertTrue(workers)
        p = self.ok("types")
        for t in ("sum", "text_stats", "sleep", "fail"):
            self.assertIn(t, p.out)
        self.assertIn("a*,b*", p.out)
        types = json.loads(self.ok("types", "--json").out)["task_types"]
        self.assertEqual({t["type"] for t in types} >= {"sum", "fail"}, True)
        self.ok("drain", "no-such-worker", code=4)

    def test_task_history(self):
        p = self.ok("submit", "sum", "a=2", "b=2", "--wait", "--json")
        task_id = json.loads(p.out)["id"]
        p = self.ok("events", task_id)
        lines = p.out.splitlines()
        self.assertIn("KIND", lines[0])
        self.assertEqual([l.split()[2] for l in lines[1:]], ["submitted", "started", "completed"])
        history = json.loads(self.ok("events", task_id, "--json").out)
        self.assertEqual([e["kind"] for e in history["events"]],
                         ["submitted", "started", "completed"])
        self.ok("events", str(uuid.uuid4()), code=4)

    def test_follow_receives_the_events_of_a_task_submitted_meanwhile(self):
        follower = Streamed([self.server.binary, "events", "--follow", "--type", "sum",
                             "--json"], self.env())
        try:
            follower.wait_stderr("following", timeout=15)
            # A stream without Last-Event-ID starts where the server's event reader is when
            # it next looks, up to events_poll_ms after the response's head: a first task's
            # events show that it is live.
            probe = self.server.submit("sum", {"a": 0, "b": 0})
            seen = follower.stdout_until(lambda ls: ls, 2)
            for _ in range(20):
                if seen:
                    break
                probe = self.server.submit("sum", {"a": 0, "b": 0})
                seen = follower.stdout_until(lambda ls: ls, 0.5)
            self.assertTrue(seen, "no event of %s" % probe["id"])
            task = self.server.submit("sum", {"a": 40, "b": 2})
            events = follower.stdout_until(
                lambda ls: any('"completed"' in l and task["id"] in l for l in ls), 20)
            mine = [json.loads(l) for l in events if task["id"] in l]
            self.assertEqual([e["kind"] for e in mine], ["submitted", "started", "completed"],
                             events)
            self.assertEqual(mine[-1]["status"], "COMPLETED")
        finally:
            follower.kill()
        # Resuming after the first event replays the later ones, and the human format is a
        # line per event.
        resumed = Streamed([self.server.binary, "events", "--follow", "--last-event-id",
                            mine[0]["id"]], self.env())
        try:
            lines = resumed.stdout_until(
                lambda ls: any(" completed " in l and task["id"] in l for l in ls), 20)
            kinds = [l.split()[1] for l in lines if task["id"] in l]
            self.assertEqual(kinds, ["started", "completed"], lines)
        finally:
            resumed.kill()
        # A filter the server refuses: exit 4 at once.
        self.ok("events", "--follow", "--kind", "nonsense", code=4, timeout=30)

    def test_settings_from_the_config_file_and_precedence(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write("# the test server\nurl = %s\n" % self.server.base_url)
            conf = f.name
        try:
            env = self.env(url=False, TASKER_CLI_CONFIG=conf)
            self.ok("types", env=env)
            # The environment beats the file, a flag beats both.
            dead = "http://127.0.0.1:%d" % free_port()
            self.ok("types", env=dict(env, TASKER_URL=dead), code=3)
            self.ok("types", "--url", self.server.base_url, env=dict(env, TASKER_URL=dead))
            with open(conf, "w") as f:
                f.write("colour = blue\n")
            p = self.ok("types", env=env, code=2)
            self.assertIn("line 1", p.err)
            self.ok("types", env=self.env(TASKER_CLI_CONFIG="/nonexistent.conf"), code=2)
        finally:
            os.unlink(conf)
        # The default config file, ~/.config/tasker/cli.conf.
        path = os.path.join(self.home.name, ".config", "tasker")
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "cli.conf"), "w") as f:
            f.write('url = "%s"\n' % self.server.base_url)
        try:
            self.ok("types", env=self.env(url=False))
        finally:
            os.unlink(os.path.join(path, "cli.conf"))


def harness_time(text):
    import datetime
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class SubmitFileTest(CliCase):

    def write(self, lines):
        f = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
        f.write("\n".join(lines) + "\n")
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_1200_lines_twice_submit_each_once(self):
        lines = [json.dumps({"type": "text_stats",
                             "params": {"text": "line %d of the file" % i, "top_n": 1}})
                 for i in range(1200)]
        path = self.write(lines)
        before = self.count("type=text_stats")
        p = self.ok("submit", "--file", path, "--json")
        summary = json.loads(p.out)
        self.assertEqual((summary["lines"], summary["submitted"], summary["already_present"],
                          summary["failed"]), (1200, 1200, 0, 0), summary)
        self.assertEqual(summary["batches"], 3)  # 500, 500, 200
        self.assertNotIn("\r", p.err)  # no progress bar when stderr is not a terminal
        self.assertEqual(self.count("type=text_stats"), before + 1200)
        p = self.ok("submit", "--file", path)
        self.assertIn("1200 lines: 0 submitted, 1200 already present, 0 failed", p.out)
        self.assertEqual(self.count("type=text_stats"), before + 1200)
        # Each line became one task, with the key derived from its number and text.
        tasks, _ = self.server.list_all("type=text_stats")
        texts = {t["params"]["text"] for t in tasks if (t["idempotency_key"] or "")
                 .startswith("file-")}
        self.assertEqual(texts, {"line %d of the file" % i for i in range(1200)})

    def test_bad_lines_are_reported_by_number_and_the_rest_stored(self):
        marker = uuid.uuid4().hex
        lines = [json.dumps({"type": "sum", "params": {"a": i, "b": 1}}) for i in range(6)]
        lines[2] = '{"type": "sum", "params": {"a": 1,'          # line 3: not JSON
        lines[4] = json.dumps({"type": "sum", "params": {"a": "x", "b": 1}})  # line 5: 422
        lines.insert(1, "")                                          # line 2: blank
        lines.append('["not", "an", "object"]')                      # line 8
        lines.append(json.dumps({"type": "sum", "params": {"a": 9, "b": 9},
                                 "idempotency_key": marker}))       # line 9: own key
        path = self.write(lines)
        before = self.count("type=sum")
        p = self.ok("submit", "--file", path, "--batch", "3", "--json", code=4)
        summary = json.loads(p.out)
        self.assertEqual((summary["lines"], summary["submitted"], summary["failed"]),
                         (8, 5, 3), summary)
        failures = {f["line"]: f["error"] for f in summary["failures"]}
        self.assertEqual(sorted(failures), [4, 6, 8], failures)
        self.assertIn("not valid JSON", failures[4])
        self.assertIn("params.a", failures[6])
        self.assertIn("not a JSON object", failures[8])
        self.assertEqual(self.count("type=sum"), before + 5)
        # Again, cut into other batches: nothing new; a batch of stored and new lines is
        # counted line by line.
        lines.append(json.dumps({"type": "sum", "params": {"a": 100, "b": 1}}))
        path = self.write(lines)
        p = self.ok("submit", "--file", path, "--batch", "1000", code=4)
        self.assertIn("9 lines: 1 submitted, 5 already present, 3 failed", p.out)
        self.assertIn("line 4: not valid JSON", p.out)
        self.assertEqual(self.count("type=sum"), before + 6)
        self.assertEqual(self.server.list_all("type=sum")[0][0]["params"], {"a": 100, "b": 1})
        # Only malformed lines: exit 2. From stdin too.
        p = self.ok("submit", "--file", "-", input="%s\nnope\n" % lines[0], code=2)
        self.assertIn("1 already present", p.out)
        self.assertIn("line 2: not valid JSON", p.out)

    def test_without_derived_keys_a_second_run_submits_again(self):
        lines = [json.dumps({"type": "sleep", "params": {"ms": 0}}) for _ in range(3)]
        path = self.write(lines)
        before = self.count("type=sleep")
        self.ok("submit", "--file", path, "--no-derived-keys")
        self.ok("submit", "--file", path, "--no-derived-keys")
        self.assertEqual(self.count("type=sleep"), before + 6)

    def test_an_unreachable_server_stops_the_run(self):
        path = self.write([json.dumps({"type": "sum", "params": {"a": 1, "b": 1}})])
        env = self.env(TASKER_URL="http://127.0.0.1:%d" % free_port())
        p = self.ok("submit", "--file", path, env=env, code=3, timeout=60)
        self.assertIn("run the same command again", p.err)


class CliAuthTest(CliCase):
    """Against a server with auth_token set: the token comes from a flag, the environment or
    the config file."""

    @classmethod
    def setUpClass(cls):
        cls.server = start_server(extra_env={"TASKER_AUTH_TOKEN": "s3cret-token"})
        cls.home = tempfile.TemporaryDirectory(prefix="tasker-cli-home-")

    def test_the_token_is_sent_as_a_bearer(self):
        p = self.ok("list", code=4)
        self.assertIn("unauthorized", p.err)
        self.ok("list", "--token", "s3cret-token")
        self.ok("list", env=self.env(TASKER_TOKEN="s3cret-token"))
        self.ok("list", "--token", "wrong", env=self.env(TASKER_TOKEN="s3cret-token"), code=4)
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write("url = %s\ntoken = s3cret-token\n" % self.server.base_url)
        try:
            self.ok("submit", "sum", "a=1", "b=2", "--wait",
                    env=self.env(url=False, TASKER_CLI_CONFIG=f.name))
        finally:
            os.unlink(f.name)


if __name__ == "__main__":
    unittest.main()
