"""End-to-end test harness for the tasker HTTP service (Python 3 standard library only).

What it does:
  * creates a fresh PostgreSQL database in the cluster named by env TASKER_TEST_PG_URL
    (``psql "$URL" -c "CREATE DATABASE tasker_e2e_<unique>"``),
  * starts ``build/tasker serve`` (env TASKER_BIN overrides the path) against it with
    TASKER_HTTP_PORT=0 and short retry back-offs, learns the port from the "listening"
    JSON log line on stderr, and waits for ``GET /ready`` == 200,
  * drains stdout/stderr in background threads into a list (so the pipes never block and
    tests can search the logs),
  * offers ``request()`` over a keep-alive http.client connection, ``wait_terminal()``,
    ``stop()`` (SIGTERM, bounded wait, then SIGKILL), ``kill9()`` and ``restart()``.

Every wait is bounded in time. Run ``python3 tests/e2e/harness.py`` to start one server by
hand (it prints the base URL and runs until Ctrl-C).
"""

import atexit
import collections
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_BIN = os.path.join(REPO_ROOT, "build", "tasker")

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
NON_TERMINAL = ("PENDING", "PROCESSING")
ALL_STATUSES = NON_TERMINAL + TERMINAL

STARTUP_TIMEOUT_S = float(os.environ.get("TASKER_E2E_STARTUP_TIMEOUT", "30"))
STOP_TIMEOUT_S = 15.0
PSQL_TIMEOUT_S = 30.0
DEFAULT_HTTP_TIMEOUT_S = 30.0
LOG_TAIL_LINES = 30

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

_live_servers = set()
_live_lock = threading.Lock()


def _kill_leftovers():
    with _live_lock:
        servers = list(_live_servers)
    for s in servers:
        try:
            s.kill9()
        except Exception:
            pass


atexit.register(_kill_leftovers)


class HarnessError(AssertionError):
    """Raised when the harness cannot start/stop/talk to the server. Carries the log tail."""


def free_port():
    """A loopback port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pg_url():
    """The admin URL of the test cluster, or raise unittest.SkipTest if not configured."""
    url = os.environ.get("TASKER_TEST_PG_URL", "").strip()
    if not url:
        raise unittest.SkipTest("TASKER_TEST_PG_URL is not set (e.g. "
                                "postgresql://postgres@127.0.0.1:55432/postgres); e2e tests skipped")
    return url


def db_url_for(admin_url, dbname):
    """Replace the database part of a libpq URL (or key=value conninfo) with dbname."""
    if admin_url.startswith(("postgres://", "postgresql://")):
        parts = urllib.parse.urlsplit(admin_url)
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + dbname,
                                        parts.query, parts.fragment))
    # key=value conninfo: a later dbname= wins in libpq.
    return "%s dbname=%s" % (admin_url, dbname)


def psql(admin_url, sql, timeout=PSQL_TIMEOUT_S):
    try:
        p = subprocess.run(["psql", admin_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except FileNotFoundError:
        raise HarnessError("psql not found on PATH (install postgresql-client-15)")
    except subprocess.TimeoutExpired:
        raise HarnessError("psql timed out after %.0fs running: %s" % (timeout, sql))
    if p.returncode != 0:
        raise HarnessError("psql failed (rc=%d) running %r: %s"
                           % (p.returncode, sql, p.stderr.decode(errors="replace").strip()))
    return p.stdout.decode(errors="replace")


def create_database(prefix="tasker_e2e"):
    admin = pg_url()
    name = "%s_%s" % (prefix, uuid.uuid4().hex[:16])
    psql(admin, 'CREATE DATABASE "%s"' % name)
    return name, db_url_for(admin, name)


def drop_database(name):
    admin = os.environ.get("TASKER_TEST_PG_URL", "").strip()
    if not admin or os.environ.get("TASKER_E2E_KEEP_DB"):
        return
    try:
        psql(admin, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    except Exception as e:  # cleanup must never fail a test
        sys.stderr.write("harness: could not drop database %s: %s\n" % (name, e))


class Response(collections.namedtuple("_Response", "status headers body")):
    """(status, headers, body). body is parsed JSON when the reply is JSON, else text.
    headers is an http.client.HTTPMessage (case-insensitive .get()).
    Extra attributes: .text (the decoded body), .elapsed (seconds)."""

    def __new__(cls, status, headers, body, text="", elapsed=0.0):
        self = super().__new__(cls, status, headers, body)
        self.text = text
        self.elapsed = elapsed
        return self


def _parse_body(headers, data):
    text = data.decode("utf-8", errors="replace")
    ctype = (headers.get("Content-Type") or "").lower()
    if "json" in ctype or (text[:1] in ("{", "[") and ctype == ""):
        try:
            return json.loads(text), text
        except ValueError:
            return text, text
    return text, text


class Client:
    """One keep-alive HTTP/1.1 connection to a server. Not thread-safe: one per thread."""

    def __init__(self, host, port, timeout=DEFAULT_HTTP_TIMEOUT_S):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None
        self.requests_on_conn = 0

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None
        self.requests_on_conn = 0

    def _connection(self, timeout):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            self.requests_on_conn = 0
        else:
            self.conn.timeout = timeout
            if self.conn.sock is not None:
                self.conn.sock.settimeout(timeout)
        return self.conn

    def request(self, method, path, body=None, headers=None, raw=None, timeout=None):
        """Send one request. body: a JSON-serialisable value (sent as application/json);
        raw: bytes/str sent as-is (no Content-Type added unless given in headers).
        Returns Response(status, headers, parsed JSON or text)."""
        timeout = self.timeout if timeout is None else timeout
        hdrs = {}
        data = None
        if raw is not None:
            data = raw.encode("utf-8") if isinstance(raw, str) else raw
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        for attempt in (1, 2):
            conn = self._connection(timeout)
            reused = self.requests_on_conn > 0
            t0 = time.monotonic()
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                payload = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.BadStatusLine) as e:
                self.close()
                # A keep-alive connection the server closed while idle: the request never
                # reached it, so one retry on a fresh connection is safe.
                if attempt == 1 and reused:
                    continue
                raise HarnessError("%s %s: connection failed: %r" % (method, path, e))
            except socket.timeout:
                self.close()
                raise HarnessError("%s %s: no reply within %.1fs" % (method, path, timeout))
            except http.client.HTTPException as e:
                self.close()
                raise HarnessError("%s %s: bad HTTP reply: %r" % (method, path, e))
            except OSError as e:
                self.close()
                raise HarnessError("%s %s: %r" % (method, path, e))
            self.requests_on_conn += 1
            if resp.will_close:
                self.close()
            parsed, text = _parse_body(resp.headers, payload)
            return Response(resp.status, resp.headers, parsed, text, time.monotonic() - t0)
        raise HarnessError("unreachable")


class TaskerServer:
    """A tasker coordinator process on a fresh database."""

    def __init__(self, extra_env=None, args=None, db=None, name="tasker"):
        self.extra_env = dict(extra_env or {})
        self.args = list(args or [])
        self.name = name
        self.binary = os.environ.get("TASKER_BIN", DEFAULT_BIN)
        if db is None:
            self.db_name, self.db_url = create_database()
            self.owns_db = True
        else:
            self.db_name, self.db_url = db
            self.owns_db = False
        self.proc = None
        self.host = "127.0.0.1"
        self.port = None
        self.starts = 0
        self._log = []  # list of (stream, raw line, parsed dict or None)
        self._log_lock = threading.Lock()
        self._listening = threading.Event()
        self._readers = []
        self._client = None
        self._client_lock = threading.Lock()

    # ---------------------------------------------------------------- lifecycle
    def env(self):
        env = dict(os.environ)
        env.update({
            "TASKER_DB_URL": self.db_url,
            "TASKER_HTTP_HOST": "127.0.0.1",
            "TASKER_HTTP_PORT": "0",
            "TASKER_CLUSTER_PORT": "0",
            "TASKER_RETRY_BASE_MS": "50",
            "TASKER_RETRY_MAX_MS": "200",
            "TASKER_LOG_LEVEL": os.environ.get("TASKER_E2E_LOG_LEVEL", "info"),
        })
        env.update({k: str(v) for k, v in self.extra_env.items()})
        return env

    def start(self, timeout=STARTUP_TIMEOUT_S, ready=True):
        """Starts the process and waits for its "listening" line, then (unless
        ready is False) for GET /ready == 200."""
        if self.proc is not None and self.proc.poll() is None:
            raise HarnessError("server already running")
        if not os.path.exists(self.binary):
            raise HarnessError("tasker binary not found at %s (build it, or set TASKER_BIN)"
                               % self.binary)
        self.starts += 1
        self.port = None
        self._listening = threading.Event()
        self._append("harness", "---- start #%d: %s serve (db %s) ----"
                     % (self.starts, self.binary, self.db_name), None)
        self.proc = subprocess.Popen([self.binary, "serve"] + self.args, env=self.env(),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        with _live_lock:
            _live_servers.add(self)
        self._readers = [
            threading.Thread(target=self._drain, args=(self.proc.stderr, "stderr", self._listening),
                             daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stdout, "stdout", self._listening),
                             daemon=True),
        ]
        for t in self._readers:
            t.start()
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.05):
            if self.proc.poll() is not None:
                self._join_readers(2.0)
                self._fail("tasker exited with code %s before logging \"listening\""
                           % self.proc.returncode)
            if time.monotonic() > deadline:
                self._fail("no \"listening\" log line within %.0fs" % timeout)
        self._client = Client(self.host, self.port)
        if ready:
            self.wait_ready(max(1.0, deadline - time.monotonic()))
        return self

    def wait_ready(self, timeout=STARTUP_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                self._fail("tasker exited with code %s while waiting for /ready"
                           % self.proc.returncode)
            c = Client(self.host, self.port, timeout=2.0)
            try:
                r = c.request("GET", "/ready")
                last = "%s %s" % (r.status, r.text[:200])
                if r.status == 200:
                    return
            except HarnessError as e:
                last = str(e)
            finally:
                c.close()
            if time.monotonic() > deadline:
                self._fail("GET /ready did not return 200 within %.0fs (last: %s)"
                           % (timeout, last))
            time.sleep(0.1)

    def _drain(self, stream, name, listening):
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                parsed = None
                if line.startswith("{"):
                    try:
                        parsed = json.loads(line)
                    except ValueError:
                        parsed = None
                if not isinstance(parsed, dict):
                    parsed = None
                self._append(name, line, parsed)
                # (A standby coordinator's gateway says "listening as a standby".)
                if (parsed is not None
                        and parsed.get("message") in ("listening", "listening as a standby")
                        and parsed.get("port") is not None and not listening.is_set()):
                    host = str(parsed.get("host") or "127.0.0.1")
                    self.host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
                    self.port = int(parsed["port"])
                    listening.set()
        except (ValueError, OSError):
            pass
        finally:
            try:
                stream.close()
            except Exception:
                pass

    def _join_readers(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self._readers:
            t.join(max(0.0, deadline - time.monotonic()))

    def _append(self, stream, line, parsed):
        with self._log_lock:
            self._log.append((stream, line, parsed))

    def is_running(self):
        if self.proc is None:
            return False
        if self.proc.poll() is None:
            return True
        # It ended: read what it wrote last before anyone looks at its logs.
        self._join_readers(3.0)
        return False

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit code
        (negative = killed by that signal), or None if it was not running."""
        if self._client is not None:
            self._client.close()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._append("harness", "---- no exit %.0fs after SIGTERM: SIGKILL ----" % timeout,
                             None)
                self.proc.kill()
                self.proc.wait(10)
        self._join_readers(3.0)
        with _live_lock:
            _live_servers.discard(self)
        self._append("harness", "---- exited with code %s ----" % self.proc.returncode, None)
        return self.proc.returncode

    def kill9(self):
        if self._client is not None:
            self._client.close()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
            self._append("harness", "---- SIGKILL ----", None)
        self._join_readers(3.0)
        with _live_lock:
            _live_servers.discard(self)
        return self.proc.returncode

    def restart(self, timeout=STARTUP_TIMEOUT_S, extra_env=None):
        """Stop (gracefully) if running, then start again against the same database."""
        if self.is_running():
            self.stop()
        if extra_env:
            self.extra_env.update(extra_env)
        return self.start(timeout)

    def close(self):
        """Stop the process and drop its database (unless TASKER_E2E_KEEP_DB is set)."""
        try:
            if self.is_running():
                self.stop()
        finally:
            if self.owns_db:
                drop_database(self.db_name)

    # ---------------------------------------------------------------- logs
    def logs(self):
        """All log lines so far as a list of (stream, raw line, parsed JSON dict or None)."""
        with self._log_lock:
            return list(self._log)

    def log_lines(self):
        return [line for _, line, _ in self.logs()]

    def find_logs(self, message=None, **fields):
        """Parsed log objects whose message (substring) and fields match."""
        out = []
        for _, _, p in self.logs():
            if p is None:
                continue
            if message is not None and message not in str(p.get("message", "")):
                continue
            if all(p.get(k) == v for k, v in fields.items()):
                out.append(p)
        return out

    def log_tail(self, n=LOG_TAIL_LINES):
        lines = self.log_lines()[-n:]
        head = "---- last %d log lines of %s (port %s, db %s) ----" % (
            len(lines), self.name, self.port, self.db_name)
        return "\n".join([head] + lines + ["---- end of log ----"])

    def _fail(self, msg):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.kill9()
        finally:
            raise HarnessError("%s\n%s" % (msg, self.log_tail()))

    # ---------------------------------------------------------------- HTTP
    @property
    def base_url(self):
        return "http://%s:%s" % (self.host, self.port)

    def client(self, timeout=DEFAULT_HTTP_TIMEOUT_S):
        """A new independent keep-alive connection (use one per thread)."""
        if self.port is None:
            raise HarnessError("server not started")
        return Client(self.host, self.port, timeout)

    def request(self, method, path, body=None, headers=None, raw=None, timeout=None):
        """(status, headers, parsed JSON or text) over the shared keep-alive connection."""
        if self._client is None:
            raise HarnessError("server not started")
        with self._client_lock:
            try:
                return self._client.request(method, path, body=body, headers=headers, raw=raw,
                                            timeout=timeout)
            except HarnessError as e:
                # (TaskerTestCase appends the log tail to the failure report)
                alive = "running" if self.is_running() else "EXITED with code %s" % (
                    self.proc.returncode if self.proc else None)
                raise HarnessError("%s (server %s)" % (e, alive))

    # ---------------------------------------------------------------- task helpers
    def submit(self, type_, params, expect=202, **fields):
        body = {"type": type_, "params": params}
        body.update(fields)
        r = self.request("POST", "/v1/tasks", body)
        if expect is not None and r.status != expect:
            raise HarnessError("submit %s -> %s %s (expected %s)" % (body, r.status, r.text[:500],
                                                                      expect))
        return r.body

    def get_task(self, task_id):
        r = self.request("GET", "/v1/tasks/%s" % task_id)
        if r.status != 200:
            raise HarnessError("GET /v1/tasks/%s -> %s %s" % (task_id, r.status, r.text[:500]))
        return r.body

    def wait_terminal(self, task_id, timeout=30.0, step_ms=5000):
        """Wait (GET ?wait_ms=...) until the task is COMPLETED, FAILED or CANCELLED.
        Returns the task object; raises HarnessError after timeout seconds."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                raise HarnessError("task %s not terminal within %.1fs; last seen: %s"
                                   % (task_id, timeout, json.dumps(last)))
            wait_ms = max(1, min(step_ms, remaining_ms))
            t0 = time.monotonic()
            r = self.request("GET", "/v1/tasks/%s?wait_ms=%d" % (task_id, wait_ms),
                             timeout=wait_ms / 1000.0 + 15.0)
            if r.status != 200:
                raise HarnessError("GET /v1/tasks/%s?wait_ms=%d -> %s %s"
                                   % (task_id, wait_ms, r.status, r.text[:500]))
            last = r.body
            if isinstance(last, dict) and last.get("status") in TERMINAL:
                return last
            # Do not spin if the server returned early without the task being terminal.
            if time.monotonic() - t0 < 0.02:
                time.sleep(0.05)

    def wait_status(self, task_id, statuses, timeout=10.0, interval=0.02):
        """Poll until the task's status is in statuses; returns the task object."""
        if isinstance(statuses, str):
            statuses = (statuses,)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.get_task(task_id)
            if last.get("status") in statuses:
                return last
            time.sleep(interval)
        raise HarnessError("task %s did not reach %s within %.1fs; last seen: %s"
                           % (task_id, statuses, timeout, json.dumps(last)))

    def list_all(self, query="", limit=1000, max_pages=1000):
        """Follow next_cursor; returns (tasks, pages)."""
        tasks, pages, cursor = [], 0, None
        while True:
            q = "limit=%d" % limit
            if query:
                q += "&" + query
            if cursor is not None:
                q += "&cursor=" + urllib.parse.quote(cursor, safe="")
            r = self.request("GET", "/v1/tasks?" + q)
            if r.status != 200:
                raise HarnessError("GET /v1/tasks?%s -> %s %s" % (q, r.status, r.text[:500]))
            tasks.extend(r.body["tasks"])
            pages += 1
            cursor = r.body.get("next_cursor")
            if cursor is None:
                return tasks, pages
            if pages >= max_pages:
                raise HarnessError("more than %d pages listing /v1/tasks?%s" % (max_pages, query))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def start_server(extra_env=None, args=None, name="tasker"):
    """Create a fresh database, start a server on it, return the TaskerServer.
    On a start failure the database is dropped and the error (with logs) re-raised."""
    s = TaskerServer(extra_env=extra_env, args=args, name=name)
    try:
        s.start()
    except BaseException:
        s.close()
        raise
    return s


class TaskerTestCase(unittest.TestCase):
    """Base class: on a failing/erroring test, the last log lines of every TaskerServer held
    in a class or instance attribute are appended to the failure report (and printed)."""

    def _servers_for_logs(self):
        seen = []
        for name in dir(self):
            if name.startswith("__"):
                continue
            try:
                v = getattr(self, name)
            except Exception:
                continue
            if isinstance(v, TaskerServer) and v not in seen:
                seen.append(v)
        return seen

    def run(self, result=None):
        if result is None:
            return super().run(result)
        lists = [getattr(result, a, None) for a in ("failures", "errors")]
        before = [len(l) if isinstance(l, list) else 0 for l in lists]
        out = super().run(result)
        try:
            grown = [isinstance(l, list) and len(l) > b for l, b in zip(lists, before)]
            if any(grown):
                tails = "\n".join(s.log_tail() for s in self._servers_for_logs())
                if tails:
                    for l, b, g in zip(lists, before, grown):
                        if g:
                            for i in range(b, len(l)):
                                test, tb = l[i]
                                l[i] = (test, "%s\n%s" % (tb, tails))
                    sys.stderr.write("\n%s: server logs at failure:\n%s\n" % (self.id(), tails))
        except Exception as e:  # never let log collection break the run
            sys.stderr.write("harness: could not attach logs: %r\n" % (e,))
        return out

    # ---------------------------------------------------------------- assertions
    def assertError(self, r, status, code):
        """r is a Response; checks status and the {"error": {"code", "message"}} shape."""
        self.assertEqual(r.status, status, "expected %s %s, got %s: %s"
                         % (status, code, r.status, r.text[:500]))
        self.assertIsInstance(r.body, dict, "error body is not a JSON object: %r" % r.text[:500])
        self.assertIn("error", r.body, "error body lacks 'error': %s" % r.text[:500])
        err = r.body["error"]
        self.assertIsInstance(err, dict, "'error' is not an object: %s" % r.text[:500])
        self.assertEqual(err.get("code"), code, "wrong error code in %s" % r.text[:500])
        self.assertIsInstance(err.get("message"), str, "no message in %s" % r.text[:500])
        self.assertTrue(err["message"].strip(), "empty error message in %s" % r.text[:500])
        ctype = (r.headers.get("Content-Type") or "").lower()
        self.assertIn("application/json", ctype, "error reply Content-Type is %r" % ctype)
        return err


def _main():
    import argparse
    ap = argparse.ArgumentParser(description="start one tasker server on a fresh database")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE, repeatable")
    a = ap.parse_args()
    extra = dict(kv.split("=", 1) for kv in a.env)
    s = start_server(extra_env=extra)
    print("tasker at %s (db %s); Ctrl-C to stop" % (s.base_url, s.db_url), flush=True)
    try:
        while s.is_running():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("exit code:", s.stop())
        s.close()


if __name__ == "__main__":
    _main()
