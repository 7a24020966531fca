// Overview: throughput, queue and latency over the last hour, and health.
import { get, type Activity, type Cluster, type Worker } from "../api";
import { lineChart } from "../charts";
import { card, every, h, ms, replace, table } from "../dom";

interface StatsRow {
  type: string;
  buckets: { submitted: number; completed: number; failed: number; cancelled: number;
             run_ms?: { p95?: number | null } }[];
}

export function overview(el: HTMLElement): () => void {
  const cards = h("div", { class: "cards", id: "overview-cards" });
  const throughput = lineChart("Tasks per second (10 s slots)", "tasks/s", "chart-throughput");
  const queue = lineChart("Queue depth and attempts running", "tasks", "chart-queue");
  const latency = lineChart("Submission to terminal state", "ms", "chart-latency");
  const actors = lineChart("Live task actors and persistence backlog", "count", "chart-actors");
  const byType = h("div", { id: "overview-types" });
  el.append(
    h("h1", {}, "Overview"),
    cards,
    h("h2", {}, "Last hour"),
    h("p", { class: "muted" },
      "From this coordinator's memory, since it started (10 s slots). ",
      "Per-type counts below come from the database's task history."),
    h("div", { class: "charts" }, throughput.el, queue.el, latency.el, actors.el),
    h("h2", {}, "By task type, last hour"),
    byType,
  );
  const stopCharts = every(5000, async () => {
    const [a, c, w] = await Promise.all([
      get<Activity>("/v1/activity?window=1h"),
      get<Cluster>("/v1/cluster"),
      get<{ workers: Worker[] }>("/v1/workers"),
    ]);
    const xs = a.slots.at.map((t) => Date.parse(t) / 1000);
    const rate = (v: number[]) => v.map((n) => n / (a.slot_ms / 1000));
    throughput.update(xs, [
      { label: "submitted", color: "#3b5bdb", values: rate(a.slots.submitted) },
      { label: "completed", color: "#2b8a3e", values: rate(a.slots.completed) },
      { label: "failed", color: "#c92a2a", values: rate(a.slots.failed) },
    ]);
    queue.update(xs, [
      { label: "queue depth", color: "#e67700", values: a.slots.queue_depth },
      { label: "running", color: "#1971c2", values: a.slots.in_flight },
    ]);
    latency.update(xs, [
      { label: "p50", color: "#2b8a3e", values: a.slots.latency_p50_ms },
      { label: "p95", color: "#e67700", values: a.slots.latency_p95_ms },
      { label: "p99", color: "#c92a2a", values: a.slots.latency_p99_ms },
    ]);
    actors.update(xs, [
      { label: "task actors", color: "#7048e8", values: a.slots.live_task_actors },
      { label: "backlog rows", color: "#868e96", values: a.slots.persistence_backlog },
    ]);
    const alive = w.workers.filter((x) => x.status === "ALIVE");
    const updown = (s: string) => h("span", { class: s === "up" ? "up" : s === "off" ? "muted" : "down" }, s);
    replace(
      cards,
      card("readiness", h("span", { class: c.ready ? "up" : "down" }, c.ready ? "ready" : "not ready"), { "data-k": "ready" }),
      card("database", updown(c.database), { "data-k": "database" }),
      card("cache", updown(c.cache.state), { "data-k": "cache" }),
      card("queue depth", Number(c.dispatcher.queue_depth).toLocaleString(), { "data-k": "queue_depth" }),
      card("running", Number(c.dispatcher.in_flight).toLocaleString(), { "data-k": "in_flight" }),
      card("task actors", Number(c.task_manager.live_task_actors).toLocaleString(), { "data-k": "live_task_actors" }),
      card("worker nodes alive", `${alive.length} / ${w.workers.length}`, { "data-k": "workers" }),
      card("slots busy", `${alive.reduce((n, x) => n + x.busy, 0)} / ${alive.reduce((n, x) => n + x.slots, 0)}`),
      card("latency p50 (1 h)", ms(a.latency_ms.p50), { "data-k": "p50" }),
      card("latency p95 (1 h)", ms(a.latency_ms.p95), { "data-k": "p95" }),
      card("latency p99 (1 h)", ms(a.latency_ms.p99), { "data-k": "p99" }),
      card("finished (1 h)", a.latency_ms.finished.toLocaleString()),
    );
  });
  const stopTypes = every(30_000, async () => {
    const s = await get<{ types: StatsRow[] }>("/v1/stats?window=1h&bucket=5m");
    const rows = s.types.map((t) => {
      const sum = (k: "submitted" | "completed" | "failed" | "cancelled") =>
        t.buckets.reduce((n, b) => n + (b[k] ?? 0), 0);
      return [h("a", { href: `#/tasks?type=${encodeURIComponent(t.type)}` }, t.type),
              sum("submitted"), sum("completed"), sum("failed"), sum("cancelled")];
    });
    replace(byType, rows.length
      ? table(["type", ["submitted", "num"], ["completed", "num"], ["failed", "num"], ["cancelled", "num"]], rows)
      : h("p", { class: "muted" }, "No tasks in the last hour."));
  });
  return () => {
    stopCharts();
    stopTypes();
    for (const c of [throughput, queue, latency, actors]) c.destroy();
  };
}
