"""An HTTP worker: runs the tasks of the types it serves, leased from tasker over HTTP
(docs/API.md, "HTTP workers")."""

import json
import logging
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from .errors import Conflict, NotFound, TaskerError, error_from

log = logging.getLogger("tasker.worker")

MAX_ERROR_BYTES = 65536


class PermanentError(Exception):
    """Raised by a handler when retrying cannot help: the task fails for good."""


class Task:
    """What a handler sees of the attempt it runs, besides its params."""

    def __init__(self, leased):
        self.id = leased["id"]
        self.type = leased["type"]
        self.attempt = leased["attempt"]
        self.timeout_ms = leased["timeout_ms"]
        self.lease = leased["lease"]
        #: Set when the task was cancelled, or its lease was lost: stop and return.
        self.cancelled = threading.Event()
        self.handed_back = False
        self._progress = None
        self._progress_lock = threading.Lock()

    def progress(self, value):
        """Reports how far the attempt got (any JSON value, at most 64 KiB as JSON). It goes
        with the lease's next heartbeat; clients see the latest as the task's `progress` while
        it runs."""
        json.dumps(value)
        with self._progress_lock:
            self._progress = value

    def _take_progress(self):
        with self._progress_lock:
            value, self._progress = self._progress, None
        return None if value is None else {"progress": value}


class Worker:
    """Leases tasks of the types it has handlers for and runs them, `concurrency` at a time.

        worker = Worker("http://127.0.0.1:8080")

        @worker.task("resize")
        def resize(params, task):
            return {"width": params["width"]}

        worker.run()   # until SIGTERM or SIGINT (or worker.stop())

    A handler returns the result (JSON-serialisable) or raises: `PermanentError` fails the task
    for good, any other exception fails the attempt and it runs again while attempts remain.
    Running leases are heartbeated; `task.cancelled` is set when the task is cancelled.
    """

    def __init__(self, url="http://127.0.0.1:8080", token=None, name=None, concurrency=4,
                 poll_ms=5000):
        self.url = url.rstrip("/")
        self.token = token
        self.name = name or "%s-%d" % (socket.gethostname(), os.getpid())
        self.concurrency = concurrency
        self.poll_ms = poll_ms
        self.worker_id = None
        self._handlers = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._slot_free = threading.Condition(self._lock)
        self._running = {}
        self._session = None
        self._lease_timeout_ms = 30000

    def task(self, type):
        """Registers the decorated function as the handler of task type `type`."""
        def register(fn):
            self._handlers[type] = fn
            return fn
        return register

    def stop(self):
        """Asks `run` to stop: it leases no more, and returns once running tasks are done."""
        self._stop.set()
        with self._lock:
            self._slot_free.notify_all()

    # ------------------------------------------------------------------------------- running
    def run(self, grace=30.0, handle_signals=True):
        """Leases and runs tasks until `stop()`, SIGTERM or SIGINT, or until the coordinator
        drains this worker. Then it leases no more, lets running tasks finish for up to `grace`
        seconds, hands back those that did not (they run again elsewhere) and closes its
        session."""
        if not self._handlers:
            raise ValueError("no handlers: register one with @worker.task(type)")
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        headers = {"Authorization": "Bearer " + self.token} if self.token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers,
                                  timeout=self.poll_ms / 1000 + 30)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="tasker-task")
        try:
            self._open()
            leaser = threading.Thread(target=self._lease_loop, name="tasker-lease", daemon=True)
            beater = threading.Thread(target=self._heartbeat_loop, name="tasker-heartbeat",
                                      daemon=True)
            leaser.start()
            beater.start()
            while not self._stop.wait(0.2):
                pass
            log.info("stopping: %d tasks running", len(self._running))
            # No new tasks from here on; the leases held stay valid.
            self._close()
            deadline = time.monotonic() + grace
            with self._lock:
                while self._running and time.monotonic() < deadline:
                    self._slot_free.wait(0.2)
                left = list(self._running.values())
            for task in left:
                self._hand_back(task, "the worker stopped before the task finished")
            leaser.join(self.poll_ms / 1000 + 35)
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._http.close()

    def _call(self, method, path, body=None):
        r = self._http.request(method, path, json=body)
        if r.status_code >= 400:
            raise error_from(r)
        return r.json() if r.content else None

    def _open(self):
        answer = self._call("POST", "/v1/workers/sessions",
                            {"name": self.name, "task_types": sorted(self._handlers),
                             "slots": self.concurrency})
        self._session = answer["session"]
        self.worker_id = answer["worker_id"]
        self._lease_timeout_ms = answer["lease_timeout_ms"]
        log.info("session %s open as worker %s", self._session, self.worker_id)

    def _close(self):
        """Drains the session: the coordinator sends nothing more; it closes once the leases
        held end."""
        try:
            self._call("DELETE", "/v1/workers/sessions/%s" % self._session)
        except (TaskerError, httpx.HTTPError) as e:
            log.info("closing the session: %s", e)

    def _lease_loop(self):
        backoff = 0.5
        while not self._stop.is_set():
            with self._lock:
                while len(self._running) >= self.concurrency and not self._stop.is_set():
                    self._slot_free.wait(1.0)
                free = self.concurrency - len(self._running)
            if self._stop.is_set():
                return
            try:
                answer = self._call("POST", "/v1/workers/sessions/%s/lease" % self._session,
                                    {"max_tasks": free, "wait_ms": self.poll_ms})
                backoff = 0.5
            except NotFound:
                log.warning("the session was closed; opening a new one")
                try:
                    self._open()
                except (TaskerError, httpx.HTTPError) as e:
                    log.warning("cannot open a session: %s", e)
                    self._stop.wait(backoff)
                continue
            except (TaskerError, httpx.HTTPError) as e:
                log.warning("lease failed: %s; again in %.1f s", e, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10)
                continue
            for leased in answer["tasks"]:
                task = Task(leased)
                with self._lock:
                    self._running[task.lease] = task
                if self._stop.is_set():
                    self._hand_back(task, "the worker stopped before the task started")
                else:
                    self._pool.submit(self._run_one, task, leased["params"])
            if answer.get("draining"):
                log.info("the coordinator drains this worker: stopping")
                self.stop()

    def _heartbeat_loop(self):
        # (Three heartbeats per lease timeout; on after a stop while tasks run.)
        interval = max(0.1, self._lease_timeout_ms / 3000)
        while True:
            time.sleep(interval)
            with self._lock:
                tasks = list(self._running.values())
            if self._stop.is_set() and not tasks:
                return
            for task in tasks:
                try:
                    answer = self._call("POST", "/v1/leases/%s/heartbeat" % task.lease,
                                        task._take_progress())
                    if answer["cancelled"]:
                        task.cancelled.set()
                except Conflict:
                    task.cancelled.set()  # the lease is lost: its result would be refused
                except (TaskerError, httpx.HTTPError) as e:
                    log.warning("heartbeat of task %s failed: %s", task.id, e)

    def _run_one(self, task, params):
        try:
            result = self._handlers[task.type](params, task)
            json.dumps(result)
            outcome = ("complete", {"result": result})
        except PermanentError as e:
            outcome = ("fail", {"error": _text(str(e) or "failed"), "retryable": False})
        except (TypeError, ValueError) as e:
            outcome = ("fail", {"error": _text("%s: %s" % (type(e).__name__, e)),
                                "retryable": False})
        except Exception as e:  # the attempt fails; it may run again
            outcome = ("fail", {"error": _text("%s: %s" % (type(e).__name__, e)),
                                "retryable": True})
        with self._lock:
            handed_back = task.handed_back or self._http.is_closed
            self._running.pop(task.lease, None)
            self._slot_free.notify_all()
        if handed_back:
            return
        try:
            self._call("POST", "/v1/leases/%s/%s" % (task.lease, outcome[0]), outcome[1])
        except Conflict:
            log.warning("task %s: the lease was lost before it ended", task.id)
        except (TaskerError, httpx.HTTPError) as e:
            log.warning("task %s: its outcome was not taken: %s", task.id, e)

    def _hand_back(self, task, why):
        """Fails the attempt as retryable, so that it runs again elsewhere."""
        with self._lock:
            task.handed_back = True
            self._running.pop(task.lease, None)
            self._slot_free.notify_all()
        task.cancelled.set()
        try:
            self._call("POST", "/v1/leases/%s/fail" % task.lease,
                       {"error": why, "retryable": True})
        except (TaskerError, httpx.HTTPError) as e:
            log.info("handing back task %s: %s", task.id, e)


def _text(s):
    """An error text the API takes: at most 64 KiB, no NUL."""
    return s.replace("\0", "\ufffd").encode()[:MAX_ERROR_BYTES].decode(errors="ignore")
