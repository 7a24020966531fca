'use strict';
// One workload against one system, measured the same way for every system; prints one JSON line.
//
//   node drive.js SYSTEM WORKLOAD [--tasks N] [--producers P] [--batch B] [--rate R]
//                 [--sleep-ms MS] [--slots K] [--cpu NAME=PID,...] [--timeout-s S]
//
// SYSTEM: tasker (its HTTP API, from Node.js like the others), bullmq, pgboss, graphile.
// WORKLOAD:
//   closed  N tasks, P producers each submitting one task (or B tasks) per request and waiting
//           for its acknowledgement before the next; e2e = N / (last completion - first submit)
//   open    tasks at a fixed rate R for --seconds S, one per request; latency of each task from
//           its submit to its completion, and CPU per task of every process named in --cpu
//   recover N tasks queued in batches; the worker process is killed with SIGKILL once a tenth
//           are done and started again: seconds to the first completion and until all are
//           done, counted in the system's own store (peers only; compare.py does tasker)
//
// Completion is observed where each system makes it known: the peers' worker processes (forked
// from this script) report each task they finish with its time, and tasker, which runs its
// built-in tasks itself, reports `completed_at` in the task and counts them in /metrics.
// Connections: Redis REDIS_URL, PostgreSQL PG_URL, tasker TASKER_URL. LAT_OUT: a file that gets
// every task's latency (ms, a JSON array), for the latency plots.

const { fork } = require('child_process');
const fs = require('fs');
const http = require('http');
const { performance } = require('perf_hooks');

const nowMs = () => performance.timeOrigin + performance.now();   // epoch ms, sub-ms, all processes
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const QUEUE = 'bench_noop';

function parseArgs(argv) {
  const o = { system: argv[0], workload: argv[1], tasks: 20000, producers: 64, batch: 1,
              rate: 1000, seconds: 10, sleepMs: 0, slots: 64, cpu: [], timeoutS: 300 };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--tasks') o.tasks = +v;
    else if (k === '--producers') o.producers = +v;
    else if (k === '--batch') o.batch = +v;
    else if (k === '--rate') o.rate = +v;
    else if (k === '--seconds') o.seconds = +v;
    else if (k === '--sleep-ms') o.sleepMs = +v;
    else if (k === '--slots') o.slots = +v;
    else if (k === '--timeout-s') o.timeoutS = +v;
    else if (k === '--cpu') o.cpu = v.split(',').filter(Boolean).map((s) => {
      const [name, pid] = s.split('='); return { name, pid: +pid };
    });
    else throw new Error(`unknown option ${k}`);
  }
  return o;
}

// --- CPU of processes, from /proc (a process and, for PostgreSQL, its children) ----------------

const CLK_TCK = 100;
function procTicks(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: +f[1], ticks: +f[11] + +f[12] };   // utime + stime
  } catch (_) { return null; }
}
// Ticks of pid and its children, counting children that ended since `before` at their last value.
function treeTicks(pid) {
  const out = new Map();
  const own = procTicks(pid);
  if (own) out.set(pid, own.ticks);
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const p = procTicks(+d);
    if (p && p.ppid === pid) out.set(+d, p.ticks);
  }
  return out;
}
function cpuSnapshot(list) { return list.map(({ name, pid }) => ({ name, t: treeTicks(pid) })); }
function cpuDiff(before, after) {
  const r = {};
  after.forEach(({ name, t }, i) => {
    let ms = 0;
    for (const [pid, ticks] of t) ms += (ticks - (before[i].t.get(pid) || 0)) * 1000 / CLK_TCK;
    r[name] = (r[name] || 0) + ms;
  });
  return r;
}

// --- summaries -----------------------------------------------------------------------------------

function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}
function summarize(xs) {
  const s = Float64Array.from(xs).sort();
  return { n: s.length, p50: pct(s, 0.5), p90: pct(s, 0.9), p99: pct(s, 0.99), max: s[s.length - 1] ?? null };
}

// --- peers' workers: a forked process per system, reporting completions --------------------------

async function workerMain(system, opt) {
  let done = 0, last = 0, lat = [];
  const finish = (jobs) => {
    const t = nowMs();
    for (const d of jobs) lat.push(t - d.t);
    done += jobs.length; last = t;
  };
  const work = async (data) => { if (data.ms) await sleep(data.ms); };
  let stop;
  if (system === 'bullmq') {
    const { Worker } = require('bullmq');
    const w = new Worker(QUEUE, async (job) => { await work(job.data); finish([job.data]); },
                         { connection: redisOpts(), concurrency: opt.slots });
    await w.waitUntilReady();
    stop = () => w.close();
  } else if (system === 'pgboss') {
    const PgBoss = require('pg-boss');
    const boss = new PgBoss({ connectionString: process.env.PG_URL, max: 4 });
    boss.on('error', (e) => console.error('pg-boss:', e.message));
    await boss.start();
    // pg-boss polls (every 0.5 s at the least) and takes a batch per poll: its way to throughput
    // is large batches and several loops. No-op tasks get 8 loops of 128; tasks that take time
    // get one loop of `slots`, so that at most `slots` run at once, as for the others.
    const workers = opt.sleepMs ? 1 : 8;
    const batch = opt.sleepMs ? opt.slots : 128;
    for (let i = 0; i < workers; i++)
      await boss.work(QUEUE, { batchSize: batch, pollingIntervalSeconds: 0.5 }, async (jobs) => {
        await Promise.all(jobs.map((j) => work(j.data)));
        finish(jobs.map((j) => j.data));
      });
    stop = () => boss.stop({ graceful: false, wait: true });
  } else if (system === 'graphile') {
    const { run } = require('graphile-worker');
    const runner = await run({
      connectionString: process.env.PG_URL, concurrency: opt.slots, noHandleSignals: true,
      pollInterval: 2000, logger: quietGraphileLogger(),
      taskList: { noop: async (payload) => { await work(payload); finish([payload]); } },
    });
    stop = () => runner.stop();
  } else {
    throw new Error(`no worker for ${system}`);
  }
  process.send({ ready: true });
  const timer = setInterval(() => {
    if (lat.length || done) { process.send({ done, last, lat }); lat = []; }
  }, 20);
  process.on('message', async (m) => {
    if (m.stop) {
      clearInterval(timer);
      process.send({ done, last, lat });
      await stop().catch(() => {});
      process.exit(0);
    }
  });
}

function redisOpts() {
  const u = new URL(process.env.REDIS_URL);
  return { host: u.hostname, port: +u.port, maxRetriesPerRequest: null };
}
function quietGraphileLogger() {
  const { Logger } = require('graphile-worker');
  return new Logger(() => (level, message) => { if (level === 'error') console.error(message); });
}

// --- producers per system ------------------------------------------------------------------------

class Tasker {
  constructor(opt) {
    this.url = new URL(process.env.TASKER_URL);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: opt.producers });
    this.sleepMs = opt.sleepMs;
    this.ids = [];
  }
  request(method, path, body) {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = http.request({ host: this.url.hostname, port: this.url.port, method, path,
                                 agent: this.agent,
                                 headers: data ? { 'content-type': 'application/json',
                                                   'content-length': data.length } : {} },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 200)}`));
            else resolve(text);
          });
        });
      req.on('error', reject);
      req.end(data);
    });
  }
  spec(t) {
    return this.sleepMs ? { type: 'sleep', params: { ms: this.sleepMs } }
                        : { type: 'sum', params: { a: 1, b: 2 } };
  }
  async setup() { this.base = await this.completed(); }
  async submit(tasks) {
    const t = tasks[0].t;
    if (tasks.length === 1) {
      const r = JSON.parse(await this.request('POST', '/v1/tasks', this.spec(tasks[0])));
      this.ids.push([r.id, t]);
    } else {
      const r = JSON.parse(await this.request('POST', '/v1/tasks/batch',
                                              { tasks: tasks.map((x) => this.spec(x)) }));
      for (const x of r.tasks) this.ids.push([x.id, t]);
    }
  }
  async completed() {
    const text = await this.request('GET', '/metrics');
    const m = /^tasker_tasks_completed_total(?:\{[^}]*\})? ([0-9.e+]+)$/mg;
    let sum = 0, x;
    while ((x = m.exec(text))) sum += +x[1];
    return sum - (this.base || 0);
  }
  // Latency of each task from its submit to the `completed_at` tasker stored (read afterwards).
  async latencies() {
    const out = [];
    let next = 0;
    const one = async () => {
      while (next < this.ids.length) {
        const [id, t] = this.ids[next++];
        const task = JSON.parse(await this.request('GET', `/v1/tasks/${id}`));
        if (task.completed_at) out.push(Date.parse(task.completed_at) + subMs(task.completed_at) - t);
      }
    };
    await Promise.all(Array.from({ length: 16 }, one));
    return out;
  }
  async stop() { this.agent.destroy(); }
}
// Date.parse keeps milliseconds only; add what an ISO time says below them.
function subMs(iso) {
  const m = /\.\d{3}(\d+)/.exec(iso);
  return m ? +('0.' + m[1]) : 0;
}

class BullMQ {
  async completed() { return (await this.q.getJobCounts('completed')).completed; }
  async setup() {
    const { Queue } = require('bullmq');
    this.q = new Queue(QUEUE, { connection: redisOpts() });
    await this.q.waitUntilReady();
    await this.q.obliterate({ force: true });
  }
  async submit(tasks) {
    if (tasks.length === 1) await this.q.add('noop', tasks[0]);
    else await this.q.addBulk(tasks.map((d) => ({ name: 'noop', data: d })));
  }
  async stop() { await this.q.close(); }
}

class PgBossProducer {
  async completed() {
    const r = await this.boss.getDb().executeSql(
      "SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = 'completed'", [QUEUE]);
    return r.rows[0].n;
  }
  async setup() {
    const PgBoss = require('pg-boss');
    this.boss = new PgBoss({ connectionString: process.env.PG_URL, max: 10, supervise: false,
                             schedule: false });
    this.boss.on('error', (e) => console.error('pg-boss:', e.message));
    await this.boss.start();
    await this.boss.createQueue(QUEUE);
  }
  async submit(tasks) {
    if (tasks.length === 1) await this.boss.send(QUEUE, tasks[0]);
    else await this.boss.insert(tasks.map((d) => ({ name: QUEUE, data: d })));
  }
  async stop() { await this.boss.stop({ graceful: false, wait: true }); }
}

class Graphile {
  // Completed jobs are deleted: what is done is what was queued and is gone.
  async completed() {
    const r = await this.utils.withPgClient((c) => c.query(
      "SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE task_identifier = 'noop'"));
    return (this.queued || 0) - r.rows[0].n;
  }
  async setup() {
    const { makeWorkerUtils } = require('graphile-worker');
    this.utils = await makeWorkerUtils({ connectionString: process.env.PG_URL });
    await this.utils.migrate();
  }
  async submit(tasks) {
    this.queued = (this.queued || 0) + tasks.length;
    if (tasks.length === 1) await this.utils.addJob('noop', tasks[0]);
    else await this.utils.addJobs(tasks.map((d) => ({ identifier: 'noop', payload: d })));
  }
  async stop() { await this.utils.release(); }
}

const producers = { tasker: Tasker, bullmq: BullMQ, pgboss: PgBossProducer, graphile: Graphile };

// --- the run -------------------------------------------------------------------------------------

function forkWorker(opt, onReport) {
  const child = fork(__filename, ['worker', opt.system,
                                  JSON.stringify({ slots: opt.slots, sleepMs: opt.sleepMs })]);
  const ready = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => reject(new Error(`${opt.system} worker exited with ${c}`)));
    child.on('message', (m) => (m.ready ? resolve() : onReport(m)));
  });
  return { child, ready: ready.then(() => child.removeAllListeners('exit')) };
}

// W6: N tasks queued; the process that runs them is killed with SIGKILL once a tenth are done,
// and started again. Completions are counted in the system's own store.
async function recover(opt, p) {
  // (Earlier workloads may have left completed tasks in the store.)
  const base = await p.completed();
  if (!Number.isFinite(base)) throw new Error(`${opt.system}: cannot count completed tasks`);
  const completed = async () => (await p.completed()) - base;
  const t0 = nowMs();
  for (let i = 0; i < opt.tasks; i += 1000)
    await p.submit(Array.from({ length: Math.min(1000, opt.tasks - i) }, () => ({ t: nowMs() })));
  const stored = nowMs();
  const deadline = nowMs() + opt.timeoutS * 1000;
  const first = forkWorker(opt, () => {});
  await first.ready;
  let before = 0;
  while ((before = await completed()) < opt.tasks / 10 && nowMs() < deadline) await sleep(20);
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  const atKill = await completed();
  const restarted = nowMs();
  let firstDone = null;
  const second = forkWorker(opt, (m) => { if (m.done && firstDone === null) firstDone = nowMs(); });
  await second.ready;
  const ready = nowMs();
  let done = atKill;
  while ((done = await completed()) < opt.tasks && nowMs() < deadline) await sleep(50);
  const end = nowMs();
  second.child.send({ stop: true });
  await Promise.race([new Promise((r) => second.child.once('exit', r)), sleep(10000)]);
  second.child.kill('SIGKILL');
  await p.stop().catch(() => {});
  console.log(JSON.stringify({
    system: opt.system, workload: 'recover', tasks: opt.tasks, stored_s: (stored - t0) / 1000,
    completed_at_kill: atKill, completed: done, timed_out: done < opt.tasks,
    ready_s: (ready - restarted) / 1000,
    first_completion_s: firstDone === null ? null : (firstDone - restarted) / 1000,
    all_done_s: (end - restarted) / 1000,
  }));
  process.exit(done < opt.tasks ? 1 : 0);
}

async function main() {
  if (process.argv[2] === 'worker') {
    return workerMain(process.argv[3], JSON.parse(process.argv[4]));
  }
  const opt = parseArgs(process.argv.slice(2));
  const Producer = producers[opt.system];
  if (!Producer) throw new Error(`unknown system ${opt.system}`);
  const p = new Producer(opt);
  await p.setup();
  if (opt.workload === 'recover') {
    if (opt.system === 'tasker') throw new Error('tasker recovers in compare.py (it kills the server)');
    return recover(opt, p);
  }

  // Completions: from the forked worker's reports, or from tasker's counter.
  let done = 0, lastDone = 0, lat = [];
  let child = null;
  if (opt.system !== 'tasker') {
    child = fork(__filename, ['worker', opt.system,
                                   JSON.stringify({ slots: opt.slots, sleepMs: opt.sleepMs })]);
    await new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c) => reject(new Error(`${opt.system} worker exited with ${c}`)));
      child.on('message', (m) => {
        if (m.ready) return resolve();
        done = m.done; lastDone = Math.max(lastDone, m.last);
        for (const x of m.lat) lat.push(x);
      });
    });
    child.removeAllListeners('exit');
  }
  const total = opt.workload === 'open' ? Math.round(opt.rate * opt.seconds) : opt.tasks;
  const deadline = nowMs() + opt.timeoutS * 1000;
  const cpuList = child ? opt.cpu.concat([{ name: 'workers', pid: child.pid }]) : opt.cpu;
  const cpu0 = cpuSnapshot(cpuList);
  const client0 = process.cpuUsage();
  const t0 = nowMs();
  let submitted = 0, errors = 0, firstError = null;
  const submitLat = [];

  const submitOne = async (n) => {
    const ts = nowMs();
    const tasks = Array.from({ length: n }, () => (opt.sleepMs ? { t: ts, ms: opt.sleepMs } : { t: ts }));
    try {
      await p.submit(tasks);
      submitted += n;
      submitLat.push(nowMs() - ts);
    } catch (e) {
      errors++; firstError = firstError || e.message;
    }
  };

  if (opt.workload === 'closed') {
    let claimed = 0;
    const producer = async () => {
      while (claimed < total && nowMs() < deadline) {
        const n = Math.min(opt.batch, total - claimed);
        claimed += n;
        await submitOne(n);
      }
    };
    await Promise.all(Array.from({ length: opt.producers }, producer));
  } else if (opt.workload === 'open') {
    // One request every 1/R s, on schedule whatever the answers' times (at most 4096 in flight).
    const inflight = new Set();
    for (let i = 0; i < total && nowMs() < deadline; i++) {
      const due = t0 + (i * 1000) / opt.rate;
      const wait = due - nowMs();
      if (wait > 1) await sleep(wait);
      while (inflight.size >= 4096) await Promise.race(inflight);
      const pr = submitOne(1).then(() => inflight.delete(pr));
      inflight.add(pr);
    }
    await Promise.all(inflight);
  } else {
    throw new Error(`unknown workload ${opt.workload}`);
  }
  const tSubmitted = nowMs();

  // Wait for every acknowledged task to complete.
  while (nowMs() < deadline) {
    if (opt.system === 'tasker') {
      done = await p.completed();
      if (done >= submitted) { lastDone = nowMs(); break; }
      await sleep(5);
    } else {
      if (done >= submitted) break;
      await sleep(5);
    }
  }
  const cpu1 = cpuSnapshot(cpuList);
  const clientCpu = process.cpuUsage(client0);
  const timedOut = done < submitted;
  if (child) {
    const exited = new Promise((r) => child.once('exit', r));
    child.send({ stop: true });
    await Promise.race([exited, sleep(10000)]);
    child.kill('SIGKILL');
  } else if (opt.workload === 'open') {
    lat = await p.latencies();
  }
  await p.stop().catch(() => {});

  if (process.env.LAT_OUT) fs.writeFileSync(process.env.LAT_OUT, JSON.stringify(lat.map((x) => +x.toFixed(3))));
  const cpu = cpuDiff(cpu0, cpu1);
  cpu.client = (clientCpu.user + clientCpu.system) / 1000;
  const perTask = {};
  for (const [k, v] of Object.entries(cpu)) perTask[k] = done ? v / done : null;
  const elapsedS = (Math.max(lastDone, tSubmitted) - t0) / 1000;
  console.log(JSON.stringify({
    system: opt.system, workload: opt.workload, tasks: total, submitted, completed: done,
    errors, first_error: firstError, timed_out: timedOut,
    producers: opt.producers, batch: opt.batch, rate: opt.workload === 'open' ? opt.rate : null,
    sleep_ms: opt.sleepMs, slots: opt.slots,
    submit_rate: submitted / ((tSubmitted - t0) / 1000),
    e2e_rate: done / elapsedS, elapsed_s: elapsedS,
    submit_ms: summarize(submitLat), latency_ms: summarize(lat),
    cpu_ms: cpu, cpu_ms_per_task: perTask,
  }));
  process.exit(timedOut || errors ? 1 : 0);
}

main().catch((e) => { console.error(e.stack || e.message); process.exit(2); });
