// Live updates from the event stream (GET /v1/events, Server-Sent Events),
// read with fetch so that the token can go in a header. Where the stream is
// not served (or keeps failing), views poll instead.
import { fetchEventSource } from "@microsoft/fetch-event-source";
import { authHeaders, type TaskEvent } from "./api";

type Listener = (ev: TaskEvent) => void;

const listeners = new Set<Listener>();
let mode: "connecting" | "live" | "polling" = "connecting";
let controller: AbortController | null = null;
let failures = 0;

class Fatal extends Error {}

function show(): void {
  const el = document.getElementById("live");
  if (!el) return;
  el.textContent = mode === "live" ? "● live" : mode === "polling" ? "○ polling" : "… connecting";
  el.dataset.mode = mode;
}

export function isLive(): boolean {
  return mode === "live";
}

export function onEvent(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function start(): void {
  controller?.abort();
  controller = new AbortController();
  mode = "connecting";
  show();
  void fetchEventSource("/v1/events", {
    headers: authHeaders(),
    signal: controller.signal,
    openWhenHidden: true,
    async onopen(res) {
      if (res.ok && res.headers.get("content-type")?.startsWith("text/event-stream")) {
        mode = "live";
        failures = 0;
        show();
        return;
      }
      // 401 (no token yet), 404 or 503 (not served, or too many streams):
      // poll, and try again later.
      throw new Fatal(`event stream: ${res.status}`);
    },
    onmessage(msg) {
      if (msg.event === "dropped") return; // the library reconnects from its id
      if (!msg.data) return;
      try {
        const ev = JSON.parse(msg.data) as TaskEvent;
        for (const l of listeners) l(ev);
      } catch {
        /* not an event */
      }
    },
    onclose() {
      throw new Error("closed"); // reconnect (with Last-Event-ID)
    },
    onerror(err) {
      mode = "polling";
      show();
      if (err instanceof Fatal || ++failures > 3) {
        // Give up for now; try again in 30 s.
        window.setTimeout(start, 30_000);
        throw err;
      }
      return 2000;
    },
  }).catch(() => {
    mode = "polling";
    show();
  });
}

document.addEventListener("tasker:token", () => start());
