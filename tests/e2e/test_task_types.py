"""Declared task types (the `task_types` file): listed, validated and queued like built-in
ones, with their own defaults; a bad file stops the process with exit code 2."""

import json
import os
import subprocess
import tempfile
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
        cls.types_file = write_types([RESIZE, command_type(cls.script.name)])
        cls.server = start_server(extra_env={"TASKER_TASK_TYPES": cls.types_file},
                                  name="task_types")

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.close()
        os.unlink(cls.types_file)
        os.unlink(cls.script.name)

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
