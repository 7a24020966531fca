// A task: its fields, params, result or error, its history of attempts and
// webhook deliveries; cancel and retry.
import { ApiError, get, post, type History, type Task } from "../api";
import { ago, every, flash, h, json, ms, replace, statusBadge, table } from "../dom";
import { isLive, onEvent } from "../live";

const terminal = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

export function taskPage(el: HTMLElement, id: string): () => void {
  const head = h("div", { id: "task-head" });
  const body = h("div", { id: "task-body" });
  const hist = h("div", { id: "task-history" });
  el.append(h("p", {}, h("a", { href: "#/tasks" }, "← Tasks")), head, body,
            h("h2", {}, "History"), hist);
  let last: Task | null = null;
  const act = async (what: "cancel" | "retry") => {
    try {
      await post(`/v1/tasks/${id}/${what}`);
      flash(el, what === "cancel" ? "Cancelled." : "Queued again.");
    } catch (e) {
      flash(el, e instanceof ApiError ? `${e.code}: ${e.message}` : String(e), true);
    }
    await load();
  };
  const load = async () => {
    let t: Task;
    try {
      t = await get<Task>(`/v1/tasks/${encodeURIComponent(id)}`);
    } catch (e) {
      replace(head, h("h1", {}, "Task"), h("p", { class: "error", id: "task-error" },
        e instanceof ApiError ? `${e.code}: ${e.message}` : String(e)));
      return;
    }
    last = t;
    replace(head,
      h("h1", {}, t.type, " ", h("span", { class: "mono muted" }, t.id)),
      h("p", {}, h("span", { id: "task-status", "data-status": t.status, class: `status s-${t.status}` }, t.status),
        " ",
        h("button", { id: "cancel", class: "danger", disabled: terminal.has(t.status), onclick: () => act("cancel") }, "Cancel"),
        " ",
        h("button", { id: "retry", disabled: !(t.status === "FAILED" || t.status === "CANCELLED"), onclick: () => act("retry") }, "Retry")));
    const kv: [string, string | HTMLElement][] = [
      ["attempts", `${t.attempts} of ${t.max_attempts}`],
      ["priority", String(t.priority)],
      ["timeout", ms(t.timeout_ms)],
      ["worker", t.worker_id ?? "–"],
      ["idempotency key", t.idempotency_key ?? "–"],
      ["callback url", t.callback_url ?? "–"],
      ["created", `${t.created_at} (${ago(t.created_at)})`],
      ["scheduled", t.scheduled_at ?? "–"],
      ["started", t.started_at ?? "–"],
      ["completed", t.completed_at ?? "–"],
      ["updated", t.updated_at],
    ];
    replace(body, h("div", { class: "grid2" },
      h("div", {}, h("dl", { class: "kv" }, kv.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
      h("div", {},
        h("h2", {}, "Params"), json(t.params),
        t.error ? [h("h2", {}, "Error"), h("pre", { class: "mono error", id: "task-error-text" }, t.error)] : null,
        t.result !== null && t.result !== undefined ? [h("h2", {}, "Result"), h("div", { id: "task-result" }, json(t.result))] : null,
        t.progress !== null && t.progress !== undefined ? [h("h2", {}, "Progress"), json(t.progress)] : null)));
    const hs = await get<History>(`/v1/tasks/${encodeURIComponent(id)}/events`);
    replace(hist,
      table(["seq", "event", "status", ["attempt", "num"], "worker", "at", "ran", "waited", "error"],
        hs.events.map((e) => [e.seq, e.kind, statusBadge(e.status), e.attempt, e.worker_id ?? "",
          e.at, ms(e.duration_ms), ms(e.wait_ms), h("span", { class: "error" }, e.error ?? "")]),
        { id: "history-table" }),
      hs.more ? h("p", { class: "muted" }, "Only the first 1,000 events are shown.") : null,
      hs.callbacks.length ? [h("h2", {}, "Webhook deliveries"),
        table(["url", "state", ["attempts", "num"], "last status", "last error", "delivered"],
          hs.callbacks.map((c) => [c.url, c.state, c.attempts, String(c.last_status ?? "–"),
                                   c.last_error ?? "", c.delivered_at ?? ""]))] : null);
  };
  let pending = 0;
  const off = onEvent((ev) => {
    if (ev.task_id !== id || pending) return;
    pending = window.setTimeout(() => {
      pending = 0;
      void load();
    }, 150);
  });
  // Without the stream, poll while the task can still change.
  const stop = every(2000, async () => {
    if (!isLive() && (!last || !terminal.has(last.status))) await load();
  });
  void load();
  return () => {
    off();
    stop();
    clearTimeout(pending);
  };
}
