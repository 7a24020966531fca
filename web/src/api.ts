// The HTTP API (docs/API.md) as the dashboard uses it: every request carries
// the token when there is one; a 401 asks for the token, then retries.

const tokenKey = "tasker_token";

export interface ApiErrorBody {
  error?: { code?: string; message?: string };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function token(): string {
  return localStorage.getItem(tokenKey) ?? "";
}

export function forgetToken(): void {
  localStorage.removeItem(tokenKey);
}

export function authHeaders(): Record<string, string> {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

let pendingLogin: Promise<void> | null = null;

/// Shows the token dialog once, however many requests were refused.
function login(message: string): Promise<void> {
  if (pendingLogin) return pendingLogin;
  const dialog = document.getElementById("login") as HTMLDialogElement;
  const input = document.getElementById("login-token") as HTMLInputElement;
  const error = document.getElementById("login-error") as HTMLElement;
  const form = document.getElementById("login-form") as HTMLFormElement;
  error.textContent = message;
  input.value = "";
  pendingLogin = new Promise<void>((resolve) => {
    form.onsubmit = (ev) => {
      ev.preventDefault();
      localStorage.setItem(tokenKey, input.value.trim());
      dialog.close();
      pendingLogin = null;
      document.dispatchEvent(new CustomEvent("tasker:token"));
      resolve();
    };
  });
  if (!dialog.open) dialog.showModal();
  input.focus();
  return pendingLogin;
}

export async function api<T>(
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  for (let tries = 0; ; ++tries) {
    const headers: Record<string, string> = { ...authHeaders() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401 && tries < 5) {
      await login(token() ? "That token was refused." : "");
      continue;
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!res.ok) {
      const err = (json as ApiErrorBody | null)?.error;
      throw new ApiError(res.status, err?.code ?? "http_" + res.status,
                         err?.message ?? res.statusText);
    }
    return json as T;
  }
}

export const get = <T>(path: string) => api<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => api<T>("POST", path, body ?? {});

// The shapes the dashboard reads.

export type Status = "PENDING" | "PROCESSING" | "COMPLETED" | "FAILED" | "CANCELLED";

export interface Task {
  id: string;
  type: string;
  status: Status;
  params: unknown;
  result: unknown;
  error: string | null;
  progress: unknown;
  priority: number;
  attempts: number;
  max_attempts: number;
  timeout_ms: number;
  idempotency_key: string | null;
  worker_id: string | null;
  callback_url: string | null;
  created_at: string;
  updated_at: string;
  scheduled_at: string | null;
  started_at: string | null;
  completed_at: string | null;
}

export interface TaskEvent {
  id?: string;
  task_id: string;
  seq: number;
  kind: string;
  type: string;
  status: Status;
  attempt: number;
  worker_id: string | null;
  error: string | null;
  at: string;
  scheduled_at: string | null;
  started_at: string | null;
  duration_ms: number | null;
  wait_ms: number | null;
}

export interface Callback {
  seq: number;
  url: string;
  state: string;
  attempts: number;
  next_at: string | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
}

export interface History {
  task_id: string;
  events: TaskEvent[];
  more: boolean;
  callbacks: Callback[];
}

export interface Worker {
  id: string;
  name: string;
  address: string;
  kind: "local" | "http" | "node";
  status: string;
  task_types: string[];
  slots: number;
  busy: number;
  completed: number;
  failed: number;
  joined_at: string;
  last_seen: string;
}

export interface JsonSchema {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  additionalProperties?: boolean | JsonSchema;
}

export interface TaskType {
  type: string;
  description: string;
  runs: string;
  params_schema: JsonSchema;
  timeout_ms?: number;
  max_attempts?: number;
}

export interface TreeNode {
  name: string;
  role: string;
  children: TreeNode[];
  restarts?: number;
  last_restart_at?: string | null;
  last_restart_reason?: string | null;
  [detail: string]: unknown;
}

export interface Coordinator {
  id: string;
  name: string;
  role: "active" | "standby" | "stopped";
  alive: boolean;
  epoch: number;
  http_address: string;
  cluster_address: string;
  version: string;
  started_at: string | null;
  last_renewal: string | null;
  self: boolean;
}

export interface Leadership {
  role: "active" | "standby";
  epoch: number;
  coordinator: { id: string; name: string };
  lease_ms: number;
  active: { id: string; name: string; http_address: string; cluster_address: string;
            last_renewal: string | null } | null;
  changed_at: string | null;
  takeovers: number;
  stepdowns: number;
  coordinators: Coordinator[];
}

export interface Cluster {
  ready: boolean;
  role: "active" | "standby";
  epoch: number;
  leadership?: Leadership;
  database: string;
  cache: { state: string };
  task_manager: Record<string, number | string | boolean>;
  dispatcher: Record<string, unknown> & {
    queues: { type: string; priority: number; depth: number }[];
  };
  persistence: Record<string, number | boolean>;
  supervisors: Record<string, { restarts: number; last_restart_at: string | null;
                                last_restart_reason: string | null }>;
  supervision_tree: TreeNode;
  gateway: Record<string, number>;
}

export interface Activity {
  window_ms: number;
  slot_ms: number;
  latency_ms: { finished: number; p50: number | null; p95: number | null; p99: number | null };
  slots: {
    at: string[];
    submitted: number[];
    completed: number[];
    failed: number[];
    cancelled: number[];
    queue_depth: number[];
    in_flight: number[];
    live_task_actors: number[];
    persistence_backlog: number[];
    latency_p50_ms: (number | null)[];
    latency_p95_ms: (number | null)[];
    latency_p99_ms: (number | null)[];
  };
}
