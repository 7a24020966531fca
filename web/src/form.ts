// A form generated from a task type's params schema (JSON Schema): one
// field per property, by its type; anything the form cannot draw is edited
// as JSON.
import type { JsonSchema } from "./api";
import { h } from "./dom";

export interface SchemaForm {
  el: HTMLElement;
  /// The params, or an error naming the field.
  value(): { params?: Record<string, unknown>; error?: string };
}

function kind(s: JsonSchema): string {
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== "null") : s.type;
  if (s.enum) return "enum";
  return t ?? "json";
}

export function schemaForm(schema: JsonSchema): SchemaForm {
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const readers: (() => { key: string; v?: unknown; skip?: boolean; error?: string })[] = [];
  const fields = Object.entries(props).map(([key, s]) => {
    const k = kind(s);
    const id = `param-${key}`;
    const label = `${key}${required.has(key) ? " *" : ""}`;
    const hint = [s.description, s.minimum !== undefined ? `≥ ${s.minimum}` : "",
                  s.maximum !== undefined ? `≤ ${s.maximum}` : ""].filter(Boolean).join(" · ");
    let input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
    if (k === "boolean") {
      input = h("select", { id, name: key },
        h("option", { value: "" }, "(default)"), h("option", { value: "true" }, "true"),
        h("option", { value: "false" }, "false"));
    } else if (k === "enum") {
      input = h("select", { id, name: key }, h("option", { value: "" }, "(none)"),
        (s.enum ?? []).map((v) => h("option", { value: JSON.stringify(v) }, String(v))));
    } else if (k === "integer" || k === "number") {
      input = h("input", { id, name: key, type: "number", step: k === "integer" ? "1" : "any",
                           min: s.minimum, max: s.maximum, required: required.has(key) });
    } else if (k === "string") {
      input = (s.maxLength ?? 0) > 200
        ? h("textarea", { id, name: key, rows: 4, cols: 60, required: required.has(key) })
        : h("input", { id, name: key, type: "text", size: 40, required: required.has(key) });
    } else {
      input = h("textarea", { id, name: key, rows: 3, cols: 60, placeholder: "JSON", class: "mono" });
    }
    if (s.default !== undefined && !(input instanceof HTMLSelectElement))
      input.placeholder = `default: ${JSON.stringify(s.default)}`;
    readers.push(() => {
      const raw = input.value;
      if (raw === "") {
        return required.has(key) ? { key, error: `${key} is required` } : { key, skip: true };
      }
      if (k === "integer" || k === "number") {
        const n = Number(raw);
        if (!Number.isFinite(n) || (k === "integer" && !Number.isInteger(n)))
          return { key, error: `${key} must be ${k === "integer" ? "an integer" : "a number"}` };
        return { key, v: n };
      }
      if (k === "boolean") return { key, v: raw === "true" };
      if (k === "string") return { key, v: raw };
      try {
        return { key, v: JSON.parse(raw) };
      } catch {
        return { key, error: `${key} must be JSON` };
      }
    });
    return h("label", { for: id }, h("span", {}, label, hint ? h("span", { class: "muted" }, ` — ${hint}`) : null), input);
  });
  return {
    el: h("div", { class: "fields" }, fields),
    value() {
      const params: Record<string, unknown> = {};
      for (const r of readers) {
        const x = r();
        if (x.error) return { error: x.error };
        if (!x.skip) params[x.key] = x.v;
      }
      return { params };
    },
  };
}
