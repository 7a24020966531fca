"""The OpenAPI document (GET /openapi.json) against what a real server answers: each request
goes to an operation of the document, its status is one the operation lists, and its body
validates against the schema the document gives for that status (JSON Schema 2020-12, with the
document's references). The request bodies sent validate against the documented request schema.

Uses the e2e harness (tests/e2e/harness.py: TASKER_TEST_PG_URL, TASKER_BIN) and the
`jsonschema` package (Debian's python3-jsonschema); skipped without either.

    TASKER_TEST_PG_URL=postgresql://postgres@127.0.0.1:25992/postgres \
      python3 -m unittest -v tests/openapi/test_conformance.py
"""

import json
import os
import re
import sys
import tempfile
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))

from harness import TaskerTestCase, start_server  # noqa: E402

try:
    import jsonschema
except ImportError:  # pragma: no cover
    jsonschema = None

TASK_TYPES = {"task_types": [{
    "name": "resize",
    "description": "Resizes an image.",
    "params": {"properties": {"url": {"type": "string", "minLength": 1},
                              "width": {"type": "integer", "minimum": 1, "default": 800}},
               "required": ["url"]},
    "run": "pull",
}]}


class Conformance(TaskerTestCase):

    @classmethod
    def setUpClass(cls):
        if jsonschema is None:
            raise unittest.SkipTest("the jsonschema package is not installed "
                                    "(apt-get install python3-jsonschema)")
        fd, cls.types_file = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(TASK_TYPES, f)
        cls.server = start_server(extra_env={"TASKER_TASK_TYPES": cls.types_file})
        r = cls.server.request("GET", "/openapi.json")
        assert r.status == 200, r.text[:500]
        cls.doc = r.body
        # Templates to match request paths against, literal segments first (as the
        # route table matches /v1/tasks/batch before /v1/tasks/{id}).
        cls.templates = []
        for path in cls.doc["paths"]:
            rx = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)) + "$"
            cls.templates.append((path.count("{"), path, re.compile(rx)))
        cls.templates.sort()
        cls.seen = set()

    @classmethod
    def tearDownClass(cls):
        server = getattr(cls, "server", None)
        if server is not None:
            server.close()
        if getattr(cls, "types_file", None):
            os.unlink(cls.types_file)

    # ------------------------------------------------------------------ helpers
    def validate(self, schema, value, what):
        # The document is the root, so that its "#/components/..." references resolve.
        root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "components": self.doc["components"]}
        root.update(schema)
        errors = sorted(jsonschema.Draft202012Validator(root).iter_errors(value),
                        key=lambda e: list(e.absolute_path))
        if errors:
            self.fail("%s does not fit the document: %s\n%s" % (
                what, "; ".join("%s at %s" % (e.message[:300], list(e.absolute_path))
                                for e in errors[:5]),
                json.dumps(value)[:1500]))

    def resolve(self, node):
        """Follows a local $ref (#/components/...)."""
        while isinstance(node, dict) and "$ref" in node:
            at = self.doc
            for part in node["$ref"][2:].split("/"):
                at = at[part]
            node = at
        return node

    def operation(self, method, path):
        bare = urllib.parse.urlsplit(path).path
        for _, template, rx in self.templates:
            if rx.match(bare):
                op = self.doc["paths"][template].get(method.lower())
                self.assertIsNotNone(op, "%s %s: no %s operation on %s"
                                     % (method, path, method, template))
                return template, op
        self.fail("%s %s: no path of the document matches" % (method, path))

    def call(self, method, path, body=None, expect=None, headers=None, raw=None):
        """Sends a request; checks it against its operation; returns the response."""
        template, op = self.operation(method, path)
        if body is not None and "requestBody" in op:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            self.validate(schema, body, "the request body of %s %s" % (method, template))
        r = self.server.request(method, path, body=body, headers=headers, raw=raw)
        what = "%s %s -> %d" % (method, path, r.status)
        if expect is not None:
            self.assertEqual(r.status, expect, "%s: %s" % (what, r.text[:500]))
        self.assertIn(str(r.status), op["responses"], "%s: status not documented" % what)
        res = self.resolve(op["responses"][str(r.status)])
        ctype = (r.headers.get("Content-Type") or "").split(";")[0].strip()
        content = res.get("content", {})
        if ctype == "application/json":
            self.assertIn("application/json", content, "%s: JSON not documented" % what)
            self.validate(content["application/json"]["schema"], r.body, what)
        elif content:
            self.assertTrue(ctype in content or "*/*" in content,
                            "%s: %s not documented (%s)" % (what, ctype, sorted(content)))
        for name in res.get("headers", {}):
            self.assertIsNotNone(r.headers.get(name), "%s: no %s header" % (what, name))
        type(self).seen.add((method.upper(), template))
        return r

    # ------------------------------------------------------------------ tests
    def test_01_probes_and_pages(self):
        self.call("GET", "/health", expect=200)
        self.call("GET", "/ready", expect=200)
        self.call("GET", "/metrics", expect=200)
        self.call("GET", "/openapi.json", expect=200)
        self.call("GET", "/v1/cluster", expect=200)
        self.call("GET", "/v1/workers", expect=200)
        self.call("GET", "/v1/task-types", expect=200)
        self.call("GET", "/v1/activity?window=10m", expect=200)
        self.call("GET", "/v1/stats?window=1h&bucket=5m", expect=200)
        for path in ("/", "/docs", "/assets/no-such-file.js", "/docs/no-such-file.css"):
            self.call("GET", path)

    def test_02_tasks(self):
        sub = {"type": "sum", "params": {"a": 1, "b": 2}, "priority": 3,
               "idempotency_key": "conformance-1"}
        first = self.call("POST", "/v1/tasks", sub, expect=202).body
        self.call("POST", "/v1/tasks", sub, expect=200)
        self.server.wait_terminal(first["id"])
        self.call("GET", "/v1/tasks/%s?wait_ms=1000" % first["id"], expect=200)
        self.call("GET", "/v1/tasks/%s/events" % first["id"], expect=200)
        self.call("GET", "/v1/tasks?limit=2&type=sum", expect=200)
        self.call("GET", "/v1/tasks?params=" + urllib.parse.quote('{"a": 1}'), expect=200)
        batch = {"tasks": [{"type": "text_stats", "params": {"text": "a b a"}},
                           {"type": "fail", "params": {"message": "no", "retryable": False},
                            "max_attempts": 1}]}
        tasks = self.call("POST", "/v1/tasks/batch", batch, expect=202).body["tasks"]
        failed = self.server.wait_terminal(tasks[1]["id"])
        self.assertEqual(failed["status"], "FAILED")
        self.call("POST", "/v1/tasks/%s/retry" % tasks[1]["id"], expect=202)
        slow = self.call("POST", "/v1/tasks", {"type": "sleep", "params": {"ms": 60000},
                                               "delay_ms": 60000}, expect=202).body
        self.call("POST", "/v1/tasks/%s/cancel" % slow["id"], expect=200)
        self.call("POST", "/v1/tasks/%s/cancel" % slow["id"], expect=409)
        # The seed API.
        seed = self.call("POST", "/run-task", {"task_name": "sum", "a": 2, "b": 3},
                         expect=202).body
        self.server.wait_terminal(seed["task_id"])
        self.call("GET", "/get-task-output?task_id=" + seed["task_id"], expect=200)

    def test_03_errors(self):
        missing = "7f7c0b7e-2f1e-4a5b-9a43-0c0d2a1f6e11"
        self.call("GET", "/v1/tasks/" + missing, expect=404)
        self.call("GET", "/v1/tasks/not-an-id", expect=400)
        self.call("GET", "/v1/tasks?limit=0", expect=400)
        self.call("GET", "/v1/stats?window=forever", expect=400)
        self.call("GET", "/v1/activity?window=2h", expect=400)
        self.call("GET", "/v1/events?kind=nope", expect=400)
        self.call("GET", "/get-task-output?task_id=" + missing, expect=404)
        self.call("POST", "/v1/workers/no-such-node/drain", expect=404)
        self.call("POST", "/v1/tasks", raw="{}", expect=415)
        self.call("POST", "/v1/tasks", raw="{", headers={"Content-Type": "application/json"},
                  expect=400)
        # (Not a valid submission: sent as raw bytes, past the request schema.)
        self.call("POST", "/v1/tasks", raw=json.dumps({"type": "sum", "params": {"a": 1}}),
                  headers={"Content-Type": "application/json"}, expect=422)

    def test_04_http_workers(self):
        session = self.call("POST", "/v1/workers/sessions",
                            {"name": "conformance", "task_types": ["resize"], "slots": 2},
                            expect=201).body
        sid = session["session"]
        task = self.call("POST", "/v1/tasks", {"type": "resize", "params": {"url": "u"}},
                         expect=202).body
        leased = []
        for _ in range(50):
            leased = self.call("POST", "/v1/workers/sessions/%s/lease" % sid,
                               {"max_tasks": 2, "wait_ms": 200}, expect=200).body["tasks"]
            if leased:
                break
        self.assertTrue(leased, "no task leased")
        lease = leased[0]["lease"]
        self.call("POST", "/v1/leases/%s/heartbeat" % lease, {"progress": {"done": 1}},
                  expect=200)
        self.call("POST", "/v1/leases/%s/complete" % lease, {"result": {"width": 800}},
                  expect=200)
        self.call("POST", "/v1/leases/%s/complete" % lease, {"result": None}, expect=409)
        self.call("POST", "/v1/leases/%s/fail" % lease, {"error": "late"}, expect=409)
        self.assertEqual(self.server.wait_terminal(task["id"])["status"], "COMPLETED")
        self.call("GET", "/v1/workers", expect=200)
        self.call("POST", "/v1/workers/%s/drain" % session["worker_id"], expect=202)
        self.call("DELETE", "/v1/workers/sessions/%s" % sid, expect=200)
        self.call("POST", "/v1/workers/sessions/no-such-session/lease", {}, expect=404)
        self.call("DELETE", "/v1/workers/sessions/no-such-session", expect=404)

    def test_05_events(self):
        # The stream's head (HEAD answers the headers of the GET).
        r = self.server.request("HEAD", "/v1/events")
        self.assertEqual(r.status, 200)
        self.assertIn("text/event-stream", r.headers.get("Content-Type") or "")
        self.assertIn("get", self.doc["paths"]["/v1/events"])

    def test_99_every_operation_was_called(self):
        ops = {(m.upper(), p) for p, item in self.doc["paths"].items() for m in item}
        # The event stream is checked by its head above (a GET never ends).
        left = sorted(ops - self.seen - {("GET", "/v1/events")})
        self.assertEqual(left, [], "operations this test never called")


if __name__ == "__main__":
    unittest.main()
