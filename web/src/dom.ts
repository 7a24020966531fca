// Small DOM helpers: every text goes in as text, never as HTML.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v as EventListener);
    } else if (v === true) {
      el.setAttribute(k, "");
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el: Node, children: (Child | Child[])[]): void {
  for (const c of children) {
    if (Array.isArray(c)) append(el, c);
    else if (c === null || c === undefined || c === false) continue;
    else el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
}

export function replace(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, children);
}

export function statusBadge(status: string): HTMLElement {
  return h("span", { class: `status s-${status}` }, status);
}

/// "3 s ago", "in 2 min", or the date for older times.
export function ago(iso: string | null | undefined): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const d = (Date.now() - t) / 1000;
  const abs = Math.abs(d);
  const say = (n: number, unit: string) =>
    d >= 0 ? `${Math.round(n)} ${unit} ago` : `in ${Math.round(n)} ${unit}`;
  if (abs < 60) return say(abs, "s");
  if (abs < 3600) return say(abs / 60, "min");
  if (abs < 86400) return say(abs / 3600, "h");
  return new Date(t).toLocaleString();
}

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(v < 10_000 ? 2 : 1)} s`;
  return `${(v / 60_000).toFixed(1)} min`;
}

export function json(v: unknown): HTMLElement {
  return h("pre", { class: "mono" }, v === undefined ? "" : JSON.stringify(v, null, 2));
}

export function table(
  headers: (string | [string, string])[],
  rows: Child[][],
  attrs: Attrs = {},
): HTMLTableElement {
  return h(
    "table",
    attrs,
    h("thead", {}, h("tr", {}, headers.map((x) =>
      Array.isArray(x) ? h("th", { class: x[1] }, x[0]) : h("th", {}, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) =>
      typeof c === "number" ? h("td", { class: "num" }, c.toLocaleString()) : h("td", {}, c))))),
  );
}

export function card(label: string, value: Child, attrs: Attrs = {}): HTMLElement {
  return h("div", { class: "card", ...attrs }, h("div", { class: "k" }, label),
           h("div", { class: "v" }, value));
}

export function flash(el: Element, text: string, bad = false): void {
  const f = h("div", { class: bad ? "flash bad" : "flash", role: "status" }, text);
  el.prepend(f);
  setTimeout(() => f.remove(), 6000);
}

/// Calls `fn` now and every `period` ms until the returned function is called.
export function every(period: number, fn: () => Promise<void> | void): () => void {
  let stopped = false;
  let timer = 0;
  const tick = async () => {
    try {
      await fn();
    } catch (e) {
      console.warn(e);
    }
    if (!stopped) timer = window.setTimeout(tick, period);
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
