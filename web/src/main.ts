// The tasker dashboard: a page per view, chosen by the URL's hash.
import "./style.css";
import { forgetToken, get, token } from "./api";
import { start as startLive } from "./live";
import { every } from "./dom";
import { overview } from "./views/overview";
import { supervision } from "./views/supervision";
import { workers } from "./views/workers";
import { tasks } from "./views/tasks";
import { taskPage } from "./views/task";
import { types } from "./views/types";

/// A view draws into `el` and returns what stops its timers and listeners.
export type View = (el: HTMLElement, arg: string, query: URLSearchParams) => () => void;

const app = document.getElementById("app") as HTMLElement;
let stop: (() => void) | null = null;

function route(): void {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, qs] = hash.split("?", 2);
  const parts = path.split("/").filter(Boolean);
  const query = new URLSearchParams(qs ?? "");
  let view: View = overview;
  let name = "overview";
  let arg = "";
  if (parts[0] === "supervision") [view, name] = [supervision, "supervision"];
  else if (parts[0] === "workers") [view, name] = [workers, "workers"];
  else if (parts[0] === "tasks" && parts[1]) [view, name, arg] = [taskPage, "tasks", decodeURIComponent(parts[1])];
  else if (parts[0] === "tasks") [view, name] = [tasks, "tasks"];
  else if (parts[0] === "types") [view, name, arg] = [types, "types", decodeURIComponent(parts[1] ?? "")];
  for (const a of document.querySelectorAll<HTMLAnchorElement>("#nav a[data-view]"))
    a.classList.toggle("active", a.dataset.view === name);
  stop?.();
  app.replaceChildren();
  stop = view(app, arg, query);
}

// The process's health in the header, whatever the view.
const health = document.getElementById("health") as HTMLElement;
every(5000, async () => {
  const res = await fetch("/ready");
  const body = (await res.json().catch(() => null)) as
    | { ready: boolean; database: string; cache: string; recovery: string }
    | null;
  health.textContent = body
    ? `${body.ready ? "ready" : "not ready"} · database ${body.database} · cache ${body.cache}`
    : "unreachable";
  health.className = "health " + (body?.ready ? "up" : "down");
});

const logout = document.getElementById("logout") as HTMLButtonElement;
const showLogout = () => (logout.hidden = !token());
logout.addEventListener("click", () => {
  forgetToken();
  showLogout();
  location.reload();
});
document.addEventListener("tasker:token", () => {
  showLogout();
  route();
});
showLogout();

window.addEventListener("hashchange", route);
route();
// Ask for the token up front when the API needs one (the stream would only
// poll without it).
void get("/v1/task-types").then(startLive, startLive);
