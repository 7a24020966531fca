"""Declared task types (the `task_types` file): listed, validated and queued like built-in
ones, with their own defaults; a bad file stops the process with exit code 2."""

import hashlib
import hmac
import http.server
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest

from harness import TaskerTestCase, start_server, pg_url  # noqa: E402

RESIZE = {
    "name": "resize",
    "description": "Resizes an image.",
    "params": {
        "properties": {
            "url": {"type": "string", "minLength": 1, "maxLength": 2048},
            "width": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 800},
            "mode": {"enum": ["fit", "fill"], "default": "fit"},
        },
        "required": ["url"],
    },
    "timeout_ms": 120000,
    "max_attempts": 5,
    "run": "pull",
}


SCRIPT = r"""
import json, os, sys, time
params = json.load(sys.stdin)
action = params["action"]
if action == "shout":
    print(json.dumps({"text": params["text"].upper(), "attempt": os.environ["TASKER_ATTEMPT"]}))
elif action == "busy":
    print("try again later", file=sys.stderr)
    sys.exit(75)
elif action == "broken":
    print("something broke", file=sys.stderr)
    sys.exit(3)
elif action == "hang":
    with open(params["pid_file"], "w") as f:
        f.write(str(os.getpid()))
    time.sleep(600)
"""


def command_type(script_path):
    return {
        "name": "script",
        "description": "Runs a Python script.",
        "params": {
            "properties": {
                "action": {"enum": ["shout", "busy", "broken", "hang"]},
                "text": {"type": "string", "default": ""},
                "pid_file": {"type": "string"},
            },
            "required": ["action"],
        },
        "max_attempts": 2,
        "run": "command",
        "command": {"argv": ["python3", script_path], "kill_grace_ms": 500},
    }


SECRET = "hook-secret"


class Endpoint(http.server.BaseHTTPRequestHandler):
    """The endpoints HTTP tasks are posted to."""

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        attempt = int(self.headers["X-Tasker-Attempt"])
        if self.path == "/ok":
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            self.answer(200, {"echo": json.loads(body),
                              "task_id": self.headers["X-Tasker-Task-Id"],
                              "type": self.headers["X-Tasker-Task-Type"],
                              "attempt": attempt,
                              "signed": self.headers["X-Tasker-Signature"] == expected})
        elif self.path == "/flaky":
            self.answer(500 if attempt == 1 else 200,
                        "overloaded" if attempt == 1 else {"attempt": attempt})
        elif self.path == "/bad":
            self.answer(400, "no such thing")
        elif self.path == "/big":
            self.answer(200, {"data": "x" * 100000})
        elif self.path == "/hang":
            time.sleep(5)
            self.answer(200, {})


def http_types(base):
    def one(name, path, **fields):
        t = {"name": name, "params": {"additionalProperties": True}, "run": "http",
             "http": {"url": base + path, "secret": SECRET, "timeout_ms": 2000}}
        t.update(fields)
        return t
    return [one("hook_ok", "/ok"), one("hook_flaky", "/flaky", max_attempts=3),
            one("hook_bad", "/bad"),
            one("hook_big", "/big", http={"url": base + "/big", "max_response_bytes": 1000}),
            one("hook_hang", "/hang", max_attempts=1,
                http={"url": base + "/hang", "timeout_ms": 500})]


def write_types(types):
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"task_types": types}, f)
    f.close()
    return f.name


class DeclaredTypesTest(TaskerTestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.script = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
        cls.script.write(SCRIPT)
        cls.script.close()
        cls.endpoint = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
        cls.endpoint.daemon_threads = True
        threading.Thread(target=cls.endpoint.serve_forever, daemon=True).start()
        base = "http://127.0.0.1:%d" % cls.endpoint.server_address[1]
        cls.types_file = write_types([RESIZE, command_type(cls.script.name)] + http_types(base))
        cls.server = start_server(extra_env={"TASKER_TASK_TYPES": cls.types_file},
                                  name="task_types")

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.close()
        os.unlink(cls.types_file)
        os.unlink(cls.script.name)
        cls.endpoint.shutdown()

    def test_listed_with_schema_and_defaults(self):
        r = self.server.request("GET", "/v1/task-types")
        self.assertEqual(r.status, 200, r.text)
        types = {t["type"]: t for t in r.body["task_types"]}
        resize = types["resize"]
        self.assertEqual(resize["description"], "Resizes an image.")
        self.assertEqual(resize["runs"], "pull")
        self.assertEqual(resize["timeout_ms"], 120000)
        self.assertEqual(resize["max_attempts"], 5)
        schema = resize["params_schema"]
        self.assertEqual(schema["type"], "object")
        self.assertEqual(schema["required"], ["url"])
        self.assertFalse(schema["additionalProperties"])
        self.assertEqual(schema["properties"]["mode"]["enum"], ["fit", "fill"])
        self.assertEqual(types["sum"]["runs"], "builtin")
        # The OpenAPI document knows its params too.
        doc = self.server.request("GET", "/openapi.json").body
        self.assertIn('"const": "resize"', json.dumps(doc))

    def test_submitted_with_the_type_defaults_and_queued(self):
        r = self.server.request("POST", "/v1/tasks",
                                {"type": "resize", "params": {"url": "http://x/a.png"}})
        self.assertEqual(r.status, 202, r.text)
        t = r.body
        self.assertEqual(t["max_attempts"], 5)
        self.assertEqual(t["timeout_ms"], 120000)
        self.assertEqual(t["params"], {"url": "http://x/a.png"})
        # No worker node runs a pull type: the task waits for an HTTP worker.
        time.sleep(1.0)
        self.assertEqual(self.server.get_task(t["id"])["status"], "PENDING")
        # A submission's own values come first.
        r = self.server.request("POST", "/v1/tasks",
                                {"type": "resize", "params": {"url": "u", "mode": "fill"},
                                 "timeout_ms": 1000, "max_attempts": 1})
        self.assertEqual(r.status, 202, r.text)
        self.assertEqual((r.body["timeout_ms"], r.body["max_attempts"]), (1000, 1))

    def test_params_refused_with_the_field_named(self):
        cases = [
            ({}, "params.url is required"),
            ({"url": ""}, "params.url must be at least 1 characters long"),
            ({"url": "u", "width": 0}, "params.width must be between 1 and 10000, got 0"),
            ({"url": "u", "mode": "crop"}, 'params.mode must be one of "fit", "fill"'),
            ({"url": "u", "height": 5}, "params.height is not a known parameter"),
        ]
        for params, message in cases:
            r = self.server.request("POST", "/v1/tasks", {"type": "resize", "params": params})
            self.assertError(r, 422, "invalid_params")
            self.assertEqual(r.body["error"]["message"], message)

    def run_script(self, params, **fields):
        t = self.server.submit("script", params, **fields)
        return self.server.wait_terminal(t["id"], 30)

    def test_a_command_type_runs_its_program(self):
        done = self.run_script({"action": "shout", "text": "hi"})
        self.assertEqual(done["status"], "COMPLETED", done)
        self.assertEqual(done["result"], {"text": "HI", "attempt": "1"})

    def test_a_command_failure_carries_its_stderr(self):
        done = self.run_script({"action": "broken"})
        self.assertEqual(done["status"], "FAILED", done)
        self.assertEqual(done["attempts"], 1)
        self.assertEqual(done["error"], "the command exited with 3: something broke")
        done = self.run_script({"action": "busy"})
        self.assertEqual(done["status"], "FAILED", done)
        self.assertEqual(done["attempts"], 2)  # exit 75 is retried
        self.assertEqual(done["error"], "the command exited with 75: try again later")

    def wait_for_pid(self, pid_file):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.path.exists(pid_file):
                with open(pid_file) as f:
                    text = f.read()
                if text:
                    return int(text)
            time.sleep(0.05)
        self.fail("the program did not start")

    def assert_gone(self, pid):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        self.fail("process %d still runs" % pid)

    def test_a_timeout_and_a_cancel_stop_the_program(self):
        pid_file = tempfile.mktemp()
        t = self.server.submit("script", {"action": "hang", "pid_file": pid_file},
                               timeout_ms=1000, max_attempts=1)
        pid = self.wait_for_pid(pid_file)
        done = self.server.wait_terminal(t["id"], 30)
        self.assertEqual(done["status"], "FAILED", done)
        self.assert_gone(pid)
        os.unlink(pid_file)
        t = self.server.submit("script", {"action": "hang", "pid_file": pid_file})
        pid = self.wait_for_pid(pid_file)
        r = self.server.request("POST", "/v1/tasks/%s/cancel" % t["id"])
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(self.server.wait_terminal(t["id"], 30)["status"], "CANCELLED")
        self.assert_gone(pid)
        os.unlink(pid_file)

    def run_type(self, type_, params):
        t = self.server.submit(type_, params)
        return self.server.wait_terminal(t["id"], 30)

    def test_an_http_type_posts_signed_params(self):
        done = self.run_type("hook_ok", {"n": 7})
        self.assertEqual(done["status"], "COMPLETED", done)
        self.assertEqual(done["result"], {"echo": {"n": 7}, "task_id": done["id"],
                                          "type": "hook_ok", "attempt": 1, "signed": True})

    def test_an_http_5xx_is_retried_and_a_4xx_is_not(self):
        done = self.run_type("hook_flaky", {})
        self.assertEqual(done["status"], "COMPLETED", done)
        self.assertEqual((done["attempts"], done["result"]), (2, {"attempt": 2}))
        done = self.run_type("hook_bad", {})
        self.assertEqual(done["status"], "FAILED", done)
        self.assertEqual(done["attempts"], 1)
        self.assertEqual(done["error"], "the endpoint answered 400: no such thing")
        done = self.run_type("hook_big", {})
        self.assertEqual(done["status"], "FAILED", done)
        self.assertEqual(done["error"], "the endpoint's answer is larger than 1000 bytes")

    def test_a_hanging_endpoint_costs_its_timeout(self):
        start = time.monotonic()
        done = self.run_type("hook_hang", {})
        self.assertEqual(done["status"], "FAILED", done)
        self.assertEqual(done["error"], "the endpoint did not answer within 500 ms")
        self.assertLess(time.monotonic() - start, 4.5)

    def test_a_bad_file_stops_the_process_with_code_2(self):
        bad = write_types([dict(RESIZE, params={"properties": {"n": {"maximum": "ten"}}})])
        try:
            env = dict(os.environ, TASKER_TASK_TYPES=bad, TASKER_DB_URL=pg_url(),
                       TASKER_HTTP_PORT="0", TASKER_CLUSTER_PORT="0")
            p = subprocess.run([self.server.binary, "serve"], env=env, timeout=30,
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 2, p.stderr[-2000:])
            self.assertIn("task_types[0].params.properties.n.maximum must be a number",
                          p.stderr)
        finally:
            os.unlink(bad)


if __name__ == "__main__":
    unittest.main()
