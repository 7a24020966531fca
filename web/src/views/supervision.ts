// Supervision: the supervision tree with restarts, the persistence batcher,
// the dispatcher's queues by type and priority, and the task manager.
import { get, type Cluster, type TreeNode } from "../api";
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

export function supervision(el: HTMLElement): () => void {
  const tree = h("ul", { class: "tree", id: "supervision-tree" });
  const pers = h("div", { class: "cards", id: "persistence" });
  const queues = h("div", { id: "queues" });
  const manager = h("div", { class: "cards", id: "task-manager" });
  el.append(
    h("h1", {}, "Supervision"),
    h("p", { class: "muted" }, "Each supervisor restarts its child when it dies; the task manager restarts task actors from their stored state."),
    tree,
    h("h2", {}, "Persistence"), pers,
    h("h2", {}, "Dispatcher queues by type and priority"), queues,
    h("h2", {}, "Task manager"), manager,
  );
  return every(2000, async () => {
    const c = await get<Cluster>("/v1/cluster");
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
