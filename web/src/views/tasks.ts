// Tasks: a filtered, paged list (newest first), search by id; updated live.
import { get, type Task, type TaskType } from "../api";
import { ago, every, h, replace, statusBadge, table } from "../dom";
import { isLive, onEvent } from "../live";

const statuses = ["", "PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"];
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function tasks(el: HTMLElement, _arg: string, query: URLSearchParams): () => void {
  const status = h("select", { id: "filter-status", "aria-label": "status" },
    statuses.map((s) => h("option", { value: s, selected: s === (query.get("status") ?? "") }, s || "any")));
  const type = h("select", { id: "filter-type", "aria-label": "type" }, h("option", { value: "" }, "any"));
  const limit = h("select", { id: "filter-limit", "aria-label": "page size" },
    ["20", "50", "100", "500"].map((n) => h("option", { value: n, selected: n === (query.get("limit") ?? "50") }, n)));
  const search = h("input", { id: "search-id", placeholder: "task id", size: 38, "aria-label": "task id" });
  const searchError = h("span", { class: "error" });
  const list = h("div", { id: "task-list" });
  const pageInfo = h("span", { class: "muted", id: "page-info" });
  const prev = h("button", { id: "page-prev", disabled: true }, "← Newer");
  const next = h("button", { id: "page-next", disabled: true }, "Older →");
  el.append(
    h("h1", {}, "Tasks"),
    h("div", { class: "toolbar" },
      h("label", {}, "status", status), h("label", {}, "type", type), h("label", {}, "per page", limit),
      h("form", { class: "toolbar", id: "search", onsubmit: (ev: Event) => {
        ev.preventDefault();
        const id = search.value.trim();
        if (!uuid.test(id)) {
          searchError.textContent = "not a task id (a UUID)";
          return;
        }
        location.hash = `#/tasks/${id.toLowerCase()}`;
      } }, h("label", {}, "open by id", search), h("button", { type: "submit" }, "Open"), searchError)),
    list,
    h("div", { class: "pager" }, prev, next, pageInfo),
  );
  void get<{ task_types: TaskType[] }>("/v1/task-types").then((t) => {
    for (const x of t.task_types)
      type.append(h("option", { value: x.type, selected: x.type === query.get("type") }, x.type));
  });

  // Cursors of the pages before this one; "" is the first page.
  const cursors: string[] = [];
  let cursor = "";
  let nextCursor: string | null = null;
  const load = async () => {
    const q = new URLSearchParams({ limit: limit.value });
    if (status.value) q.set("status", status.value);
    if (type.value) q.set("type", type.value);
    if (cursor) q.set("cursor", cursor);
    const page = await get<{ tasks: Task[]; next_cursor: string | null }>(`/v1/tasks?${q}`);
    nextCursor = page.next_cursor;
    prev.disabled = cursors.length === 0;
    next.disabled = !nextCursor;
    pageInfo.textContent = `page ${cursors.length + 1} · ${page.tasks.length} tasks`;
    replace(list, page.tasks.length
      ? table(["id", "type", "status", ["priority", "num"], "attempts", "created", "updated", "error"],
          page.tasks.map((t) => [
            h("a", { href: `#/tasks/${t.id}`, class: "mono", "data-task": t.id }, t.id),
            t.type, statusBadge(t.status), t.priority, `${t.attempts}/${t.max_attempts}`,
            ago(t.created_at), ago(t.updated_at),
            h("span", { class: "error" }, (t.error ?? "").slice(0, 80)),
          ]), { id: "tasks-table" })
      : h("p", { class: "muted", id: "tasks-table" }, "No tasks."));
  };
  const filtersChanged = () => {
    cursors.length = 0;
    cursor = "";
    const q = new URLSearchParams();
    if (status.value) q.set("status", status.value);
    if (type.value) q.set("type", type.value);
    if (limit.value !== "50") q.set("limit", limit.value);
    history.replaceState(null, "", `#/tasks${q.size ? "?" + q : ""}`);
    void load();
  };
  status.addEventListener("change", filtersChanged);
  type.addEventListener("change", filtersChanged);
  limit.addEventListener("change", filtersChanged);
  next.addEventListener("click", () => {
    if (!nextCursor) return;
    cursors.push(cursor);
    cursor = nextCursor;
    void load();
  });
  prev.addEventListener("click", () => {
    cursor = cursors.pop() ?? "";
    void load();
  });

  // The first page follows the stream (at most one reload a second); other
  // pages, and everything when there is no stream, are polled.
  let pending = 0;
  const offEvents = onEvent(() => {
    if (cursors.length > 0 || pending) return;
    pending = window.setTimeout(() => {
      pending = 0;
      void load();
    }, 1000);
  });
  const stopPoll = every(3000, async () => {
    if (!isLive() || cursors.length > 0) await load();
  });
  void load();
  return () => {
    offEvents();
    stopPoll();
    clearTimeout(pending);
  };
}
