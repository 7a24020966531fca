// Browser tests of the dashboard and the API reference, in Debian's headless
// Chromium driven by playwright-core. Run by test_dashboard.py, which starts
// the servers: node dashboard.mjs SCENARIO BASE_URL
//   SCENARIO "open": a coordinator without auth and a worker node "node-a";
//   SCENARIO "auth": a coordinator whose token is $TASKER_TEST_TOKEN.
// Screenshots go to $TASKER_ARTIFACTS (default build/test-artifacts/browser).
// Every wait is bounded; any assertion that fails exits non-zero.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "../../web/package.json"));
const { chromium } = require("playwright-core");

const [scenario, base] = process.argv.slice(2);
assert.ok(scenario && base, "usage: node dashboard.mjs open|auth BASE_URL");
const artifacts = process.env.TASKER_ARTIFACTS ?? join(here, "../../build/test-artifacts/browser");
mkdirSync(artifacts, { recursive: true });
const token = process.env.TASKER_TEST_TOKEN ?? "";

async function api(method, path, body, tok = token) {
  const headers = { "Content-Type": "application/json" };
  if (tok) headers.Authorization = `Bearer ${tok}`;
  const res = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function submit(type, params, extra = {}) {
  const r = await api("POST", "/v1/tasks", { type, params, ...extra });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.id;
}

async function until(what, fn, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const browser = await chromium.launch({
  executablePath: process.env.TASKER_CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  timeout: 30_000,
});
const problems = [];
const shot = async (page, name) => {
  await page.screenshot({ path: join(artifacts, `${scenario}-${name}.png`), fullPage: true });
};

try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // A Content-Security-Policy violation or a script error is a defect;
    // failed requests are judged below, by URL.
    if (m.type() === "error" && !/^Failed to load resource/.test(m.text()))
      problems.push(`console error: ${m.text()}`);
  });
  // Only the refusals a scenario provokes: 401 before the token is given,
  // 422 for the bad submission.
  page.on("response", (res) => {
    const expected = res.status() === 401 || (res.status() === 422 && res.request().method() === "POST");
    if (res.status() >= 400 && !expected)
      problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
  });
  page.on("dialog", (d) => d.accept());

  if (scenario === "open") await open(page);
  else if (scenario === "auth") await auth(page);
  else throw new Error(`unknown scenario ${scenario}`);
  assert.deepEqual(problems, [], "the pages logged errors");
  console.log(`browser scenario ${scenario}: passed`);
} finally {
  await browser.close();
}

async function open(page) {
  // The page's weight: everything the first load of / transfers.
  let bytes = 0;
  const counted = [];
  page.on("response", async (res) => {
    const url = new URL(res.url());
    if (url.pathname === "/" || url.pathname.startsWith("/assets/")) {
      const body = await res.body().catch(() => Buffer.alloc(0));
      bytes += body.length;
      counted.push(url.pathname);
    }
  });
  const sum = await submit("sum", { a: 20, b: 22 });
  const sleeper = await submit("sleep", { ms: 30_000 }, { max_attempts: 1 });
  const failing = await submit("fail", { message: "broken on purpose", retryable: false });

  // The task list shows them, newest first; a task submitted while the page
  // is open appears by itself (the event stream).
  await page.goto(`${base}/#/tasks`);
  for (const id of [sum, sleeper, failing])
    await page.locator(`a[data-task="${id}"]`).waitFor();
  console.log(`page weight of /: ${bytes} bytes in ${counted.length} files (${counted.join(", ")})`);
  assert.ok(bytes > 10_000 && bytes < 400_000, `page weight ${bytes}`);
  await page.locator('#live[data-mode="live"]').waitFor();
  const late = await submit("sum", { a: 1, b: 1 });
  await page.locator(`a[data-task="${late}"]`).waitFor({ timeout: 10_000 });
  // Filters: FAILED shows the failing task only.
  await page.selectOption("#filter-status", "FAILED");
  await page.locator(`a[data-task="${failing}"]`).waitFor();
  await until("the FAILED filter", async () =>
    (await page.locator(`a[data-task="${sum}"]`).count()) === 0);
  await shot(page, "tasks-failed");
  await page.selectOption("#filter-status", "");

  // Search by id opens the task page; a bad id is refused on the page.
  await page.fill("#search-id", "not-a-task");
  await page.click("#search button[type=submit]");
  await page.locator("#search .error", { hasText: "not a task id" }).waitFor();
  await page.fill("#search-id", sum);
  await page.click("#search button[type=submit]");
  await page.locator('#task-status[data-status="COMPLETED"]').waitFor();
  assert.match(await page.locator("#task-result").innerText(), /"sum": 42/);
  await until("the sum task's history (submitted, started, completed)", async () =>
    (await page.locator("#history-table tbody tr").count()) >= 3);

  // Cancel the sleeper from its page, then retry it.
  await page.goto(`${base}/#/tasks/${sleeper}`);
  await page.locator("#cancel:not([disabled])").waitFor();
  await page.click("#cancel");
  await page.locator('#task-status[data-status="CANCELLED"]').waitFor();
  assert.equal((await api("GET", `/v1/tasks/${sleeper}`)).body.status, "CANCELLED");
  await shot(page, "task-cancelled");
  await page.click("#retry");
  await until("the retried task to run again", async () =>
    ["PENDING", "PROCESSING"].includes((await api("GET", `/v1/tasks/${sleeper}`)).body.status));
  await page.locator('#task-status[data-status="PENDING"], #task-status[data-status="PROCESSING"]').waitFor();
  await until("the history to show the cancel and the retry", async () => {
    const kinds = await page.locator("#history-table tbody tr td:nth-child(2)").allInnerTexts();
    return kinds.includes("cancelled") && kinds.includes("retried");
  });
  await page.click("#cancel"); // (so that it does not hold a slot)
  await page.locator('#task-status[data-status="CANCELLED"]').waitFor();

  // The failed task shows its error.
  await page.goto(`${base}/#/tasks/${failing}`);
  await page.locator('#task-status[data-status="FAILED"]').waitFor();
  assert.match(await page.locator("#task-error-text").innerText(), /broken on purpose/);
  await shot(page, "task-failed");

  // A task type's form submits a task and opens it.
  await page.goto(`${base}/#/types/sum`);
  await page.fill("#param-a", "2.5");
  await page.fill("#param-b", "4");
  await page.click("#submit");
  await page.locator('#task-status[data-status="COMPLETED"]').waitFor();
  assert.match(await page.locator("#task-result").innerText(), /"sum": 6.5/);
  // A required field left empty: the browser refuses it, and so does the
  // form's own check when the browser's is off.
  await page.goto(`${base}/#/types/sleep`);
  await page.click("#submit");
  assert.equal(await page.$eval("#param-ms", (el) => el.validity.valueMissing), true);
  await page.$eval("#submit-form", (f) => { f.noValidate = true; });
  await page.click("#submit");
  await page.locator("#submit-error", { hasText: "ms is required" }).waitFor();
  // What only the server knows is refused with its message (422).
  await page.goto(`${base}/#/types/fail`);
  await page.fill("#param-message", "x");
  await page.fill("#opt-key", "k".repeat(10));
  await page.fill("#opt-attempts", "1000");
  await page.$eval("#submit-form", (f) => { f.noValidate = true; });
  await page.click("#submit");
  await page.locator("#submit-error", { hasText: "invalid_params" }).waitFor();

  // Drain the worker node.
  await page.goto(`${base}/#/workers`);
  const drain = page.locator('button[data-drain="node-a"]');
  await drain.waitFor();
  await shot(page, "workers");
  await drain.click();
  await until("node-a to drain", async () => {
    const w = (await api("GET", "/v1/workers")).body.workers.find((x) => x.id === "node-a");
    return !w || w.status === "DRAINING" || w.status === "DEAD";
  });
  // The page shows it: the node's Drain button is disabled, or it has left.
  await until("the page to show node-a draining", async () =>
    (await page.locator('button[data-drain="node-a"]:not([disabled])').count()) === 0);
  await page.locator("#flash, .flash", { hasText: "draining" }).first().waitFor();

  // Supervision: the tree with a restart and its reason, and the queues by
  // type and priority (with no node left, new tasks wait).
  const crash = await api("POST", "/v1/debug/crash/dispatcher");
  assert.equal(crash.status, 202, JSON.stringify(crash.body));
  for (const [p, n] of [[5, 3], [0, 1]])
    for (let i = 0; i < n; ++i) await submit("sleep", { ms: 10 }, { priority: p });
  await page.goto(`${base}/#/supervision`);
  for (const n of ["coordinator", "persistence", "dispatcher", "task_manager", "task actors", "gateway"])
    await page.locator(`#supervision-tree li[data-node="${n}"]`).first().waitFor();
  await page.locator('#supervision-tree li[data-node="dispatcher"] .restarts[data-restarts="1"]',
                     { hasText: "last" }).first().waitFor();
  await page.locator("#queue-table tbody tr").nth(1).waitFor();
  // The coordinators: this one, active, epoch 1, with its last renewal.
  const row = page.locator("#coordinators-table tbody tr").first();
  await row.waitFor();
  const cells = (await row.innerText()).split("\t").map((x) => x.trim());
  assert.equal(cells[1], "active", cells.join(" | "));
  assert.equal(cells[2], "1", cells.join(" | "));
  assert.equal(cells[3], "yes", cells.join(" | "));
  assert.match(cells[6], /ago$|^in /, cells.join(" | "));
  await page.locator('#coordinators .card[data-k="epoch"]', { hasText: "1" }).waitFor();
  const queued = await page.locator("#queue-table tbody tr").allInnerTexts();
  assert.deepEqual(queued.map((r) => r.split("\t").map((x) => x.trim())),
                   [["sleep", "5", "3"], ["sleep", "0", "1"]]);
  await shot(page, "supervision");

  // Overview: the cards and the charts, drawn with data.
  await page.goto(`${base}/#/`);
  await page.locator('#overview-cards [data-k="ready"]', { hasText: "ready" }).waitFor();
  for (const id of ["chart-throughput", "chart-queue", "chart-latency", "chart-actors"])
    await page.locator(`#${id} canvas`).waitFor();
  // The submitted line (#3b5bdb) has pixels once two 10 s slots exist.
  await until("the throughput chart to draw its line", () => page.evaluate(() => {
    const c = document.querySelector("#chart-throughput canvas");
    const ctx = c.getContext("2d");
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4)
      if (Math.abs(d[i] - 59) < 40 && Math.abs(d[i + 1] - 91) < 40 && Math.abs(d[i + 2] - 219) < 40 && d[i + 3] > 100) ++n;
    return n > 20;
  }), 40_000);
  await shot(page, "overview");

  // The API reference renders the OpenAPI document.
  await page.goto(`${base}/docs`);
  await page.locator(".swagger-ui .info .title", { hasText: "tasker" }).waitFor({ timeout: 20_000 });
  await page.locator(".opblock-summary-path", { hasText: "/v1/tasks" }).first().waitFor();
  await shot(page, "docs");
}

async function auth(page) {
  // The page asks for the token; a wrong one is refused, the right one works.
  await page.goto(`${base}/`);
  await page.locator("#login[open]").waitFor();
  await shot(page, "login");
  await page.fill("#login-token", "wrong-token");
  await page.click("#login-submit");
  await page.locator("#login[open] #login-error", { hasText: "refused" }).waitFor();
  await page.fill("#login-token", token);
  await page.click("#login-submit");
  await page.locator('#overview-cards [data-k="ready"]', { hasText: "ready" }).waitFor();
  await page.locator('#live[data-mode="live"]').waitFor();
  const id = await submit("sum", { a: 1, b: 2 });
  await page.goto(`${base}/#/tasks/${id}`);
  await page.locator('#task-status[data-status="COMPLETED"]').waitFor();
  await shot(page, "signed-in");
  // The API reference sends the stored token for the document.
  await page.goto(`${base}/docs`);
  await page.locator(".swagger-ui .info .title", { hasText: "tasker" }).waitFor({ timeout: 20_000 });
  // Without a token the API itself stays closed.
  assert.equal((await api("GET", "/v1/tasks", undefined, "")).status, 401);
}
