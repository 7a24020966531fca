// Task types: each one's params schema, and a submit form made from it.
import { ApiError, get, post, type Task, type TaskType } from "../api";
import { h, json, replace } from "../dom";
import { schemaForm } from "../form";

export function types(el: HTMLElement, selected: string): () => void {
  const box = h("div", {});
  el.append(h("h1", {}, "Task types"), box);
  void get<{ task_types: TaskType[] }>("/v1/task-types").then(({ task_types }) => {
    const list = h("ul", { id: "type-list" }, task_types.map((t) =>
      h("li", {}, h("a", { href: `#/types/${encodeURIComponent(t.type)}`, "data-type": t.type }, t.type),
        h("span", { class: "muted" }, ` (${t.runs}) — ${t.description}`))));
    const t = task_types.find((x) => x.type === selected);
    if (!t) {
      replace(box, list);
      return;
    }
    const form = schemaForm(t.params_schema);
    const priority = h("input", { id: "opt-priority", type: "number", min: 0, max: 9, placeholder: "0" });
    const delay = h("input", { id: "opt-delay", type: "number", min: 0, placeholder: "ms" });
    const attempts = h("input", { id: "opt-attempts", type: "number", min: 1, max: 100, placeholder: String(t.max_attempts ?? 3) });
    const key = h("input", { id: "opt-key", type: "text", maxlength: 255, placeholder: "optional" });
    const error = h("p", { class: "error", id: "submit-error" });
    const submit = h("form", { class: "submit", id: "submit-form", onsubmit: async (ev: Event) => {
      ev.preventDefault();
      const v = form.value();
      if (v.error) {
        error.textContent = v.error;
        return;
      }
      const body: Record<string, unknown> = { type: t.type, params: v.params };
      if (priority.value) body.priority = Number(priority.value);
      if (delay.value) body.delay_ms = Number(delay.value);
      if (attempts.value) body.max_attempts = Number(attempts.value);
      if (key.value) body.idempotency_key = key.value;
      try {
        const task = await post<Task>("/v1/tasks", body);
        location.hash = `#/tasks/${task.id}`;
      } catch (e) {
        error.textContent = e instanceof ApiError ? `${e.code}: ${e.message}` : String(e);
      }
    } },
      h("h2", {}, `Submit a ${t.type} task`),
      form.el,
      h("div", { class: "row" }, h("label", {}, "priority (0–9)", priority), h("label", {}, "delay (ms)", delay),
        h("label", {}, "max attempts", attempts), h("label", {}, "idempotency key", key)),
      error,
      h("div", {}, h("button", { type: "submit", class: "primary", id: "submit" }, "Submit")));
    replace(box, h("div", { class: "grid2" },
      h("div", {}, list, h("h2", {}, `${t.type}: params schema`), h("p", {}, t.description), json(t.params_schema)),
      submit));
  });
  return () => {};
}
