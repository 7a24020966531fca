"""Browser tests of the dashboard and /docs: real tasker processes (tests/e2e's harness) and
Debian's headless Chromium, driven by dashboard.mjs (playwright-core, from web/node_modules).

Screenshots go to build/test-artifacts/browser/ (TASKER_ARTIFACTS overrides it)."""

import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

from harness import TaskerTestCase, free_port, start_server  # noqa: E402
from test_workers import SECRET, Worker  # noqa: E402

SCRIPT = os.path.join(HERE, "dashboard.mjs")
CHROMIUM = os.environ.get("TASKER_CHROMIUM", "/usr/bin/chromium")
PLAYWRIGHT = os.path.join(HERE, "..", "..", "web", "node_modules", "playwright-core")


def run_scenario(test, scenario, server, extra_env=None):
    env = dict(os.environ)
    env.update(extra_env or {})
    proc = subprocess.run(["node", SCRIPT, scenario, server.base_url], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=240)
    print(proc.stdout)
    if proc.returncode != 0:
        test.fail("browser scenario %s failed (exit %d):\n%s" % (
            scenario, proc.returncode, proc.stdout[-6000:]))


@unittest.skipUnless(os.path.exists(CHROMIUM), "no Chromium at %s" % CHROMIUM)
@unittest.skipUnless(os.path.isdir(PLAYWRIGHT), "web/node_modules has no playwright-core")
class DashboardTest(TaskerTestCase):
    def test_dashboard_without_auth(self):
        cluster_port = free_port()
        s = start_server(extra_env={"TASKER_LOCAL_SLOTS": "0",
                                    "TASKER_CLUSTER_PORT": str(cluster_port),
                                    "TASKER_CLUSTER_SECRET": SECRET,
                                    "TASKER_FAULT_INJECTION": "1"}, name="coordinator")
        self.addCleanup(s.close)
        w = Worker(s.binary, cluster_port, "node-a", slots=4)
        self.addCleanup(w.stop)
        s.wait_ready()
        run_scenario(self, "open", s)
        # What the page did, seen through the API.
        workers = {x["id"]: x for x in s.request("GET", "/v1/workers").body["workers"]}
        self.assertIn(workers.get("node-a", {}).get("status", "DEAD"), ("DRAINING", "DEAD"))
        cancelled = s.request("GET", "/v1/tasks?status=CANCELLED").body["tasks"]
        self.assertEqual([t["type"] for t in cancelled], ["sleep"])

    def test_dashboard_asks_for_the_token(self):
        token = "browser-test-token-7d1f"
        s = start_server(extra_env={"TASKER_AUTH_TOKEN": token}, name="coordinator")
        self.addCleanup(s.close)
        run_scenario(self, "auth", s, {"TASKER_TEST_TOKEN": token})


if __name__ == "__main__":
    unittest.main()
