// Worker nodes: the CAF nodes, HTTP workers and the coordinator's own slots.
import { ApiError, get, post, type Worker } from "../api";
import { ago, every, flash, h, replace, statusBadge, table } from "../dom";

export function workers(el: HTMLElement): () => void {
  const box = h("div", { id: "workers" });
  el.append(h("h1", {}, "Worker nodes"), box);
  const refresh = async () => {
    const w = await get<{ workers: Worker[] }>("/v1/workers");
    const rows = w.workers.map((n) => {
      const drain = h("button", {
        class: "danger",
        "data-drain": n.id,
        disabled: n.status === "DRAINING" || n.status === "DEAD",
        onclick: async () => {
          if (!confirm(`Drain ${n.name}? It takes no new tasks and leaves once its running tasks finish.`)) return;
          try {
            await post(`/v1/workers/${encodeURIComponent(n.id)}/drain`);
            flash(el, `${n.name} is draining.`);
          } catch (e) {
            flash(el, e instanceof ApiError ? e.message : String(e), true);
          }
          await refresh();
        },
      }, "Drain");
      return [h("span", { class: "mono" }, n.name), n.kind, statusBadge(n.status), n.slots, n.busy,
              n.completed, n.failed, ago(n.last_seen), h("span", { class: "muted" }, n.task_types.join(", ")), drain];
    });
    replace(box, rows.length
      ? table(["name", "kind", "status", ["slots", "num"], ["busy", "num"], ["completed", "num"],
               ["failed", "num"], "last seen", "task types", ""], rows, { id: "workers-table" })
      : h("p", { class: "muted" }, "No worker nodes."));
  };
  return every(2000, refresh);
}
