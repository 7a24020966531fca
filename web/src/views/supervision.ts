// Supervision: the coordinators (which one is active, their epoch and last
// renewal), the supervision tree with restarts, the persistence batcher, the
// dispatcher's queues by type and priority, and the task manager.
import { get, type Cluster, type Leadership, type TreeNode } from "../api";
import { ago, card, every, h, replace, table } from "../dom";

const skip = new Set(["name", "role", "children", "restarts", "last_restart_at", "last_restart_reason"]);

function treeItem(n: TreeNode): HTMLElement {
  const details = Object.entries(n)
    .filter(([k]) => !skip.has(k))
    .map(([k, v]) => h("span", { class: "muted" }, `${k.replace(/_/g, " ")} ${String(v)}`));
  const restarts = n.restarts === undefined ? null
    : h("span", { class: `restarts${n.restarts > 0 ? " some" : ""}`, "data-restarts": n.restarts },
        `${n.restarts} restart${n.restarts === 1 ? "" : "s"}`,
        n.last_restart_at ? ` · last ${ago(n.last_restart_at)}` : "",
        n.last_restart_reason ? ` (${n.last_restart_reason})` : "");
  return h("li", { "data-node": n.name },
    h("span", { class: "node" }, h("span", { class: "name" }, n.name),
      h("span", { class: "role" }, n.role), restarts, details),
    n.children.length ? h("ul", {}, n.children.map(treeItem)) : null);
}

function coordinatorsTable(l: Leadership): HTMLElement {
  return table(
    ["name", "role", ["epoch", "num"], "alive", "HTTP", "cluster", "last renewal", "version"],
    l.coordinators.map((c) => [
      h("span", { "data-coordinator": c.name }, c.name, c.self ? h("span", { class: "muted" }, " (this one)") : ""),
      h("span", { class: `badge ${c.alive ? c.role : "gone"}`, "data-role": c.role }, c.alive || c.role === "stopped" ? c.role : `${c.role} (lease ran out)`),
      c.epoch,
      c.alive ? "yes" : "no",
      c.http_address,
      c.cluster_address,
      ago(c.last_renewal),
      c.version,
    ]),
    { id: "coordinators-table" });
}

function leadershipSummary(c: Cluster): HTMLElement {
  const l = c.leadership;
  if (!l) return h("p", { class: "muted" }, "No leadership information.");
  const active = l.active
    ? `${l.active.name} (${l.active.http_address}), last renewal ${ago(l.active.last_renewal)}`
    : "none: a standby takes over once the lease runs out";
  return h("div", {},
    h("div", { class: "cards" },
      card("this coordinator", `${l.coordinator.name}: ${l.role}`, { "data-k": "role" }),
      card("epoch", String(l.epoch), { "data-k": "epoch" }),
      card("lease", `${l.lease_ms} ms`),
      card("takeovers here", String(l.takeovers)),
      card("step-downs here", String(l.stepdowns))),
    h("p", { class: "muted", id: "active-coordinator" }, `Active: ${active}`),
    coordinatorsTable(l));
}

export function supervision(el: HTMLElement): () => void {
  const coordinators = h("div", { id: "coordinators" });
  const activeOnly = h("div", {});
  const tree = h("ul", { class: "tree", id: "supervision-tree" });
  const pers = h("div", { class: "cards", id: "persistence" });
  const queues = h("div", { id: "queues" });
  const manager = h("div", { class: "cards", id: "task-manager" });
  const activeParts = [
    h("h2", {}, "Supervision tree"),
    h("p", { class: "muted" }, "Each supervisor restarts its child when it dies; the task manager restarts task actors from their stored state."),
    tree,
    h("h2", {}, "Persistence"), pers,
    h("h2", {}, "Dispatcher queues by type and priority"), queues,
    h("h2", {}, "Task manager"), manager];
  activeOnly.append(...activeParts);
  el.append(
    h("h1", {}, "Supervision"),
    h("h2", {}, "Coordinators"), coordinators,
    activeOnly,
  );
  return every(2000, async () => {
    const c = await get<Cluster>("/v1/cluster");
    replace(coordinators, leadershipSummary(c));
    if (c.role === "standby") {
      // A standby has no task manager, dispatcher or persistence of its own.
      replace(activeOnly, h("p", { class: "muted", id: "standby-note" },
        "This coordinator stands by: it serves reads from the database and forwards writes to the active one, whose page shows its supervision tree."));
      return;
    }
    if (!activeOnly.contains(tree)) replace(activeOnly, ...activeParts);
    replace(tree, treeItem(c.supervision_tree));
    const p = c.persistence;
    replace(pers,
      card("backlog rows", Number(p.backlog_rows).toLocaleString(), { "data-k": "backlog_rows" }),
      card("last batch rows", Number(p.last_batch_rows).toLocaleString()),
      card("largest batch rows", Number(p.max_batch_rows).toLocaleString()),
      card("batches", Number(p.batches).toLocaleString()),
      card("rows written", Number(p.rows_written).toLocaleString()),
      card("failed batches", Number(p.failed_batches).toLocaleString()),
      card("submits waiting", Number(p.waiting_submits).toLocaleString()),
      card("writers", Number(p.writers).toLocaleString()));
    const q = c.dispatcher.queues ?? [];
    replace(queues, q.length
      ? table(["type", ["priority", "num"], ["queued", "num"]],
              q.map((x) => [x.type, x.priority, x.depth]), { id: "queue-table" })
      : h("p", { class: "muted", id: "queue-table" }, `Nothing queued · ${String(c.dispatcher.in_flight)} running`));
    const m = c.task_manager;
    const keys = ["live_task_actors", "spawned", "finished", "recovered", "lost_attempts",
                  "delayed_parked", "admitting", "restarts", "submit_timeouts", "cached_results"];
    replace(manager, keys.map((k) => card(k.replace(/_/g, " "), String(m[k] ?? "–"))));
  });
}
