"""The client: submit tasks, read them, wait for them, list, cancel and retry."""

import time

import httpx

from .errors import error_from

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


class Client:
    """A connection pool to one tasker coordinator.

        with Client("http://127.0.0.1:8080") as tasker:
            task = tasker.submit("sum", {"a": 1, "b": 2})
            done = tasker.wait(task["id"], timeout=30)

    Tasks are the API's task objects (dicts). Error answers raise the `TaskerError` subclass of
    their code (`InvalidParams`, `NotFound`, `Conflict`, `Overloaded`, `Unavailable`, ...).
    """

    def __init__(self, url="http://127.0.0.1:8080", token=None, timeout=30.0):
        headers = {"Authorization": "Bearer " + token} if token else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self):
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, path, body=None, params=None, headers=None, timeout=None):
        kwargs = {"params": params, "headers": headers}
        if body is not None:
            kwargs["json"] = body
        if timeout is not None:
            kwargs["timeout"] = timeout
        r = self._http.request(method, path, **kwargs)
        if r.status_code >= 400:
            raise error_from(r)
        return r.json()

    def submit(self, type, params, *, priority=None, max_attempts=None, timeout_ms=None,
               delay_ms=None, run_at=None, idempotency_key=None):
        """Submits one task; returns it once it is stored (202), or the earlier task of the same
        idempotency key (200)."""
        body = {"type": type, "params": params}
        for key, value in (("priority", priority), ("max_attempts", max_attempts),
                           ("timeout_ms", timeout_ms), ("delay_ms", delay_ms),
                           ("run_at", run_at), ("idempotency_key", idempotency_key)):
            if value is not None:
                body[key] = value
        return self._call("POST", "/v1/tasks", body)

    def submit_batch(self, tasks):
        """Submits up to 1,000 tasks (dicts like `submit`'s body), all or none."""
        return self._call("POST", "/v1/tasks/batch", {"tasks": list(tasks)})["tasks"]

    def get(self, task_id):
        return self._call("GET", "/v1/tasks/%s" % task_id)

    def wait(self, task_id, timeout=60.0):
        """Waits until the task is COMPLETED, FAILED or CANCELLED and returns it; raises
        TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            wait_ms = max(0, min(60000, int(left * 1000)))
            task = self._call("GET", "/v1/tasks/%s" % task_id, params={"wait_ms": wait_ms},
                              timeout=wait_ms / 1000 + 30)
            if task["status"] in TERMINAL:
                return task
            if time.monotonic() >= deadline:
                raise TimeoutError("task %s is still %s" % (task_id, task["status"]))

    def list(self, status=None, type=None, limit=100, cursor=None):
        """One page, newest first: {"tasks": [...], "next_cursor": ...}."""
        params = {"limit": limit}
        for key, value in (("status", status), ("type", type), ("cursor", cursor)):
            if value is not None:
                params[key] = value
        return self._call("GET", "/v1/tasks", params=params)

    def iter_tasks(self, status=None, type=None, page_size=100):
        """Every task that matches, newest first, a page at a time."""
        cursor = None
        while True:
            page = self.list(status=status, type=type, limit=page_size, cursor=cursor)
            yield from page["tasks"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def cancel(self, task_id):
        return self._call("POST", "/v1/tasks/%s/cancel" % task_id)

    def retry(self, task_id):
        return self._call("POST", "/v1/tasks/%s/retry" % task_id)

    def task_types(self):
        return self._call("GET", "/v1/task-types")["task_types"]
