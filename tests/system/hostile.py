"""Hostile input: one coordinator with auth on (TASKER_AUTH_TOKEN) and a 2 s header timeout is
sent what an attacker would send, case by case, while honest clients submit throughout:

  1. targets that are not paths (`Xv1/tasks`, `http://host/...`, `*`) and requests without the
     token: 400 for the former, 401 with WWW-Authenticate for everything but the probes and
     the dashboard; the bearer scheme is case-insensitive
  2. (the cluster port: covered elsewhere)
  3. chunked bodies whose chunk-size line, chunk extension or trailer never ends: 400 within
     1 s, not a megabyte buffered until the header timeout
  4. a client that pipelines 10,000 requests and never reads: memory stays bounded
  5. NUL characters in JSON strings (params value and key, idempotency_key, a `fail`
     message) next to six honest submitters: 422 naming the field; the honest ones get 202
  6. an Idempotency-Key header that is not UTF-8: 422 naming the header; /ready stays 200
  7. bad query parameters: 400, never 500
  8. HTTP framing: Transfer-Encoding other than chunked (request smuggling), HEAD, bare LF
     line ends, Expect: 100-continue
  9. a wider list of malformed requests an attacker would try: each a 4xx of the API, never
     a 5xx, a crash or a hang
 10. memory (wider, too): 2 MiB bodies that parse into 700,000 JSON values, 30 unfinished
     uploads of 1 MiB past a 16 MiB max_request_buffer_bytes (the largest refused 503, a
     small submit still 202), and 100 connections that pipeline large reads and never read
     the answers

After every case the process runs, /health answers 200 within 1 s, an honest submit gets 202
and RSS stays within 64 MiB of what it was when the case began. At the end nothing refused was stored (every
hostile submission carries a marker HOSTILE-<case>-<n> in its params or idempotency key),
every acknowledged honest task is terminal and the honest clients saw only 202. A failing
case does not hide the others: the script goes on (a coordinator that died or went bad is
killed and started again on the same database), prints the table of every request and its
answer, and lists every failure at the end.
"""

import collections
import http.client
import json
import re
import select
import socket
import threading
import time
import traceback
import uuid

import faults
from faults import check, log

TOKEN = "hostile-token"
AUTH = "Bearer " + TOKEN
HEADER_TIMEOUT_MS = 2000
# max_request_buffer_bytes of the server, and the unfinished uploads that pass it
REQUEST_BUFFER_MB = 16
UPLOADS = 30
# max_response_buffer_bytes of the server
RESPONSE_BUFFER_MB = 32
RSS_GROWTH_MB = 64
# The statuses of the API's client errors (API.md), and of a request that took too long.
API_4XX = (400, 401, 404, 405, 408, 413, 415, 422)
MIB = 1024 * 1024
PIECE = 64 * 1024
JSON_CT = "Content-Type: application/json"
MARKER_RE = re.compile(r"HOSTILE-(\w+?)-(\d+)")


# ------------------------------------------------------------------ raw HTTP


def as_bytes(x):
    return x if isinstance(x, bytes) else x.encode("latin-1")


def request(method, target, headers=(), body=b"", token=True, host=True, version="HTTP/1.1",
            length=True):
    """The bytes of one request. headers: str or bytes lines; length: add Content-Length
    when there is a body."""
    body = as_bytes(body)
    lines = [as_bytes("%s %s %s" % (method, target, version))]
    if host:
        lines.append(b"Host: tasker")
    if token:
        lines.append(as_bytes("Authorization: " + AUTH))
    lines += [as_bytes(h) for h in headers]
    if body and length:
        lines.append(as_bytes("Content-Length: %d" % len(body)))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(body):
    """body as one chunk and the last chunk."""
    body = as_bytes(body)
    return as_bytes("%x\r\n" % len(body)) + body + b"\r\n0\r\n\r\n"


class Reply:
    """One HTTP response: status, headers (lower-case names), body bytes."""

    def __init__(self, status, headers, body, at=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.at = at

    @classmethod
    def parse_head(cls, head, body, at):
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        return cls(int(head.split(b" ", 2)[1]), headers, body, at)

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def error(self):
        """(code, message) of an API error body, or (None, None)."""
        try:
            err = json.loads(self.body)["error"]
            return err.get("code"), err.get("message") or ""
        except (ValueError, KeyError, TypeError, AttributeError):
            return None, None


def parse_replies(data, heads=()):
    """Splits response bytes into Replies. heads[i]: the i-th final response answers a HEAD
    (no body). Returns (replies, garbage): garbage is set when bytes that do not start a
    response follow the last complete one."""
    replies, pos, final = [], 0, 0
    while pos < len(data):
        if len(data) - pos >= 7 and not data.startswith(b"HTTP/1.", pos):
            return replies, True
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        try:
            r = Reply.parse_head(data[pos:end], b"", None)
        except (ValueError, IndexError):
            return replies, True
        length = 0
        informational = 100 <= r.status < 200
        if not informational and not (final < len(heads) and heads[final]) \
                and r.status not in (204, 304):
            try:
                length = int(r.headers.get("content-length", "0"))
            except ValueError:
                return replies, True
        if end + 4 + length > len(data):
            break
        r.body = data[end + 4:end + 4 + length]
        replies.append(r)
        pos = end + 4 + length
        if not informational:
            final += 1
    return replies, False


class Exchange:
    """One raw connection: sends `parts` (each in pieces of 64 KiB, stopping early when an
    answer is readable or the server stops taking bytes), then reads answers until `want`
    final responses came (or, with until_eof, until the server closes), at most `timeout`
    seconds after the sending ended. before_read() runs between the two."""

    def __init__(self, server, parts, heads=(), want=1, timeout=3.0, until_eof=False,
                 rcvbuf=None, before_read=None):
        self.data = b""
        self.replies = []
        self.times = []
        self.garbage = False
        self.eof = False
        self.send_error = None
        self.timeout = timeout
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(timeout)
            sock.connect((server.host, server.port))
            self._send(sock, parts)
            self.sent_at = time.monotonic()
            if before_read is not None:
                before_read()
            self._read(sock, heads, want, until_eof)
        finally:
            sock.close()

    def _send(self, sock, parts):
        for part in parts:
            for off in range(0, len(part), PIECE):
                if off > 0 and select.select([sock], [], [], 0)[0]:
                    return  # answered already (or closed): the rest is not needed
                try:
                    sock.sendall(part[off:off + PIECE])
                except (socket.timeout, OSError) as e:
                    self.send_error = e.__class__.__name__
                    return

    def _read(self, sock, heads, want, until_eof):
        deadline = self.sent_at + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                break
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                break
            self.data += chunk
            replies, self.garbage = parse_replies(self.data, heads)
            now = time.monotonic()
            self.times += [now] * (len(replies) - len(self.times))
            self.replies = replies
            if not until_eof and (self.garbage or len(self.final()) >= want):
                break

    def final(self):
        return [r for r in self.replies if r.status >= 200]

    @property
    def reply(self):
        f = self.final()
        return f[0] if f else None

    def answer_s(self):
        """Seconds from the end of the sending to the first final response."""
        for r, t in zip(self.replies, self.times):
            if r.status >= 200:
                return max(0.0, t - self.sent_at)
        return None


def call(server, method, path, body=None, headers=None, token=True, timeout=5.0):
    """One request with http.client on a fresh connection; a Reply (status None when none
    came, with the exception as body)."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = AUTH
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.request(method, path, body, h)
        r = conn.getresponse()
        data = r.read()
        headers = {k.lower(): v for k, v in r.getheaders()}
        return Reply(r.status, headers, data, time.monotonic() - t0)
    except (OSError, http.client.HTTPException) as e:
        return Reply(None, {}, repr(e).encode(), time.monotonic() - t0)
    finally:
        conn.close()


class KeepAlive:
    """A keep-alive http.client connection with the token; reconnects after an error."""

    def __init__(self, server, timeout=5.0):
        self.server, self.timeout, self.conn = server, timeout, None

    def post(self, path, data, headers=None):
        h = {"Authorization": AUTH, "Content-Type": "application/json"}
        h.update(headers or {})
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.server.host, self.server.port,
                                                       timeout=self.timeout)
            self.conn.request("POST", path, data, h)
            r = self.conn.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return Reply(None, {}, repr(e).encode())

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


# ------------------------------------------------------------------ honest load


class AuthConnection(http.client.HTTPConnection):
    def request(self, method, url, body=None, headers=None, **kw):
        h = dict(headers or {})
        h.setdefault("Authorization", AUTH)
        super().request(method, url, body, h, **kw)


class HonestLoad(faults.Load):
    """faults.Load with the bearer token, each thread pausing pace_s between submissions."""

    def __init__(self, server, threads, name, pace_s=0.0):
        self.pace_s = pace_s

        def make(n):
            if self.pace_s:
                time.sleep(self.pace_s)
            return {"type": "sum", "params": {"a": n, "b": 1}}

        super().__init__(server, threads=threads, make_task=make, name=name)

    def _conn(self):
        port = self.server.port
        if port is None:
            return None
        return AuthConnection(self.server.host, port, timeout=30)


class Sampler:
    """RSS of the current coordinator process every 50 ms: the peak since the last take()
    and over the whole run."""

    def __init__(self, server):
        self.server = server
        self.peak = 0.0
        self.case_peak = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self):
        proc = self.server.proc
        if proc is None or proc.poll() is not None:
            return 0.0
        try:
            return faults.rss_mb(proc.pid)
        except OSError:
            return 0.0

    def _run(self):
        while not self._stop.wait(0.05):
            mb = self.now()
            with self._lock:
                self.peak = max(self.peak, mb)
                self.case_peak = max(self.case_peak, mb)

    def take(self):
        mb = self.now()
        with self._lock:
            peak = max(self.case_peak, mb)
            self.case_peak = 0.0
            self.peak = max(self.peak, mb)
        return peak

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        return self.peak


# ------------------------------------------------------------------ the suite


class Hostile:
    def __init__(self, server):
        self.s = server
        self.case = None
        self.failures = []
        self.rows = []  # (case, what, expected, got, ok)
        self.markers = {}  # marker -> (case, what)
        self.ids = []  # honest tasks of the checks, verified at the end
        self.expected = {}
        self.restarts = 0
        self.case_peaks = {}
        self.sampler = Sampler(server)
        time.sleep(1.0)  # the honest load is under way: its memory is part of the baseline
        self.baseline = self.sampler.take()
        self.case_base = self.baseline
        log("baseline RSS %.1f MiB, bound %.1f MiB" % (self.baseline, self.bound()))

    def bound(self):
        # Per case: what a case leaves behind (the allocator keeps freed memory) is the
        # next one's start.
        return max(self.baseline, self.case_base) + RSS_GROWTH_MB

    def marker(self, what):
        m = "HOSTILE-%s-%d" % (self.case, len(self.markers) + 1)
        self.markers[m] = (self.case, what)
        return m

    def track(self, tid, body):
        self.ids.append(tid)
        self.expected[tid] = body

    def fail(self, what):
        log("FAIL", what)
        self.failures.append(what)

    def record(self, what, expected, got, ok):
        got = got.replace("\r", "\\r").replace("\n", "\\n")
        if len(got) > 300:
            got = got[:300] + "..."
        self.rows.append((self.case, what, expected, got, ok))
        if not ok:
            self.fail("case %s, %s: expected %s, got %s" % (self.case, what, expected, got))

    def expect(self, what, x, statuses, code=None, contains=None, within=None, single=False,
               closed=False, bearer=False):
        """Checks an Exchange or a Reply: status in statuses, the error code, a message that
        contains a text, the answer within seconds, exactly one response, the connection
        closed after it, a WWW-Authenticate: Bearer header."""
        r = x.reply if isinstance(x, Exchange) else x
        want = ["/".join(map(str, statuses))]
        if code:
            want.append(code)
        if contains:
            want.append("naming %r" % contains)
        if within is not None:
            want.append("within %.1f s" % within)
        if single:
            want.append("one response")
        if closed:
            want.append("then closed")
        if bearer:
            want.append("WWW-Authenticate: Bearer")
        if r is None or r.status is None:
            got = "no answer"
            if isinstance(x, Exchange):
                got += " within %.1f s" % x.timeout
                if x.eof:
                    got += " (closed)"
                if x.data:
                    got += " (bytes %r)" % x.data[:80]
            elif r is not None:
                got += " (%s)" % r.body.decode(errors="replace")[:120]
            self.record(what, ", ".join(want), got, False)
            return None
        ok = r.status in statuses
        err_code, message = r.error()
        got = [str(r.status)]
        if err_code:
            got.append(err_code)
        if code and err_code != code:
            ok = False
        if contains:
            if message is None or contains not in message:
                ok = False
                got.append("message %r" % (message or r.body[:120]))
        if isinstance(x, Exchange):
            took = x.answer_s()
            if within is not None:
                got.append("in %.2f s" % took)
                ok = ok and took <= within
            if single:
                n = len(x.final())
                got.append("%d response%s" % (n, "" if n == 1 else "s"))
                if x.garbage:
                    got.append("then bytes %r" % x.data[-60:])
                ok = ok and n == 1 and not x.garbage
            if closed:
                got.append("closed" if x.eof else "left open")
                ok = ok and x.eof
        if bearer:
            has = r.headers.get("www-authenticate", "").lower().startswith("bearer")
            if not has:
                got.append("no WWW-Authenticate: Bearer")
            ok = ok and has
        if r.status is not None and r.status >= 500:
            ok = False
        self.record(what, ", ".join(want), ", ".join(got), ok)
        return r

    def probe(self, what, data, statuses=API_4XX, timeout=3.0, heads=(), **kw):
        """Sends raw bytes on a fresh connection and checks the first answer (all of them
        until the server closes, when one response only or the close is checked)."""
        x = Exchange(self.s, [data], heads=heads, timeout=timeout,
                     until_eof=kw.get("single", False) or kw.get("closed", False))
        self.expect(what, x, statuses, **kw)
        if not self.s.is_running():
            self.fail("case %s, %s: the coordinator exited (code %s)"
                      % (self.case, what, self.s.proc.returncode))
            self.restart()
        return x

    # -------------------------------------------------------------- between cases

    def restart(self):
        log("the coordinator is not well: kill -9 and start again on the same database")
        log(self.s.log_tail(15))
        self.s.kill9()
        self.s.start()
        self.restarts += 1
        time.sleep(0.5)
        self.sampler.take()
        self.baseline = self.sampler.take()
        log("restarted; baseline RSS %.1f MiB" % self.baseline)

    def service_ok(self):
        """The process runs, /health answers within 1 s, an honest submit gets 202, RSS is
        under its bound. A coordinator that fails one of them is started again."""
        s, problems = self.s, []
        peak = self.sampler.take()
        self.case_peaks[self.case] = round(peak, 1)
        log("case %s: peak RSS %.1f MiB (baseline %.1f, at the case's start %.1f, bound %.1f)"
            % (self.case, peak, self.baseline, self.case_base, self.bound()))
        if peak >= self.bound():
            problems.append("peak RSS %.1f MiB over the bound %.1f MiB" % (peak, self.bound()))
        if not s.is_running():
            problems.append("the coordinator exited with code %s" % s.proc.returncode)
        else:
            r = call(s, "GET", "/health", token=False, timeout=1.0)
            if r.status != 200:
                problems.append("GET /health: %s %s" % (r.status, r.body[:120]))
            body = {"type": "sum", "params": {"a": 40, "b": 2}}
            r = call(s, "POST", "/v1/tasks", body, timeout=5.0)
            if r.status == 202:
                self.track(r.json()["id"], body)
            else:
                problems.append("an honest submit: %s %s" % (r.status, r.body[:160]))
        for p in problems:
            self.fail("after case %s: %s" % (self.case, p))
        if problems:
            self.restart()

    def run_case(self, case, title, fn):
        self.case = case
        log("---- case %s: %s" % (case, title))
        self.sampler.take()
        self.case_base = faults.rss_mb(self.s.proc.pid)
        t0 = time.monotonic()
        try:
            fn(self)
        except Exception as e:  # one case's surprise must not hide the others
            log(traceback.format_exc())
            self.fail("case %s stopped: %s: %s" % (case, e.__class__.__name__, e))
        log("case %s took %.1f s" % (case, time.monotonic() - t0))
        self.service_ok()

    # -------------------------------------------------------------- at the end

    def stored_markers(self):
        """Markers of hostile submissions found in the tasks table."""
        out = faults.psql_stdin(self.s.db_url,
                                "SELECT coalesce(idempotency_key, '') || ' ' || params::text "
                                "|| ' ' || coalesce(error, '') FROM tasks "
                                "WHERE idempotency_key LIKE '%HOSTILE-%' "
                                "OR params::text LIKE '%HOSTILE-%' "
                                "OR error LIKE '%HOSTILE-%';", timeout=60)
        return sorted(set(m.group(0) for m in MARKER_RE.finditer(out)))

    def print_table(self):
        log("---- every hostile request and its answer")
        for case, what, expected, got, ok in self.rows:
            log("%-3s %-4s %-62s | %s" % (case, "ok" if ok else "FAIL", what[:62], got))


def submission(text, key=None):
    """A valid text_stats submission."""
    body = {"type": "text_stats", "params": {"text": text}}
    if key:
        body["idempotency_key"] = key
    return json.dumps(body)


# ------------------------------------------------------------------ 1: targets and auth


def case_targets_and_auth(h):
    s = h.s
    sleeper = call(s, "POST", "/v1/tasks", {"type": "sleep", "params": {"ms": 60000}})
    check(sleeper.status == 202, "submitting a sleep task: %s %s" % (sleeper.status,
                                                                     sleeper.body[:200]))
    sid = sleeper.json()["id"]
    h.track(sid, {"type": "sleep", "params": {"ms": 60000}})
    m = h.marker("POST Xv1/tasks")
    body = submission("a valid body " + m, m)
    for what, data in [
        ("GET Xv1/tasks (no token)", request("GET", "Xv1/tasks", token=False)),
        ("POST Xv1/tasks, a valid body (no token)",
         request("POST", "Xv1/tasks", [JSON_CT], body, token=False)),
        ("POST Xv1/tasks/<pending id>/cancel (no token)",
         request("POST", "Xv1/tasks/%s/cancel" % sid, token=False)),
        ("GET http://host/v1/tasks (no token)",
         request("GET", "http://tasker/v1/tasks", token=False)),
        ("OPTIONS * (no token)", request("OPTIONS", "*", token=False)),
    ]:
        h.probe(what, data, (400,), code="bad_request")
    r = call(s, "GET", "/v1/tasks/%s" % sid)
    h.record("the sleep task after the Xv1 cancel", "not CANCELLED",
             "%s %s" % (r.status, (r.json() or {}).get("status")),
             r.status == 200 and (r.json() or {}).get("status") != "CANCELLED")
    r = call(s, "POST", "/v1/tasks/%s/cancel" % sid)
    check(r.status in (200, 409), "cancelling the sleep task: %s %s" % (r.status, r.body[:200]))

    known = h.ids[0] if h.ids else str(uuid.uuid4())
    m = h.marker("POST /run-task without a token")
    seed = json.dumps({"task_name": "text_stats", "text": "seed " + m})
    for what, data in [
        ("POST /run-task (no token)", request("POST", "/run-task", [JSON_CT], seed, token=False)),
        ("GET /get-task-output?task_id=<a task> (no token)",
         request("GET", "/get-task-output?task_id=%s" % known, token=False)),
        ("GET /openapi.json (no token)", request("GET", "/openapi.json", token=False)),
        ("GET /v1/tasks (no token)", request("GET", "/v1/tasks", token=False)),
        ("GET /v1/nonexistent (no token)", request("GET", "/v1/nonexistent", token=False)),
        ("GET /v1/tasks, Authorization: Bearer <wrong token>",
         request("GET", "/v1/tasks", ["Authorization: Bearer hostile-tokem"], token=False)),
        ("GET /v1/tasks, Authorization: Bearer <token>x",
         request("GET", "/v1/tasks", ["Authorization: Bearer %sx" % TOKEN], token=False)),
        ("GET /v1/tasks, Authorization: Bearer <token minus its last byte>",
         request("GET", "/v1/tasks", ["Authorization: Bearer %s" % TOKEN[:-1]], token=False)),
        ("GET /v1/tasks, Authorization: Basic <token>",
         request("GET", "/v1/tasks", ["Authorization: Basic %s" % TOKEN], token=False)),
        ("GET /v1/tasks, Authorization: Bearer<token> (no space)",
         request("GET", "/v1/tasks", ["Authorization: Bearer%s" % TOKEN], token=False)),
        ("GET /v1/tasks, Authorization: Bearer (no token)",
         request("GET", "/v1/tasks", ["Authorization: Bearer"], token=False)),
    ]:
        h.probe(what, data, (401,), code="unauthorized", bearer=True)
    for path in ("/health", "/ready", "/metrics", "/"):
        h.probe("GET %s (no token)" % path, request("GET", path, token=False), (200,))
    for scheme in ("bearer", "BEARER"):
        h.probe("GET /v1/tasks?limit=1, Authorization: %s <token>" % scheme,
                request("GET", "/v1/tasks?limit=1", ["Authorization: %s %s" % (scheme, TOKEN)],
                        token=False), (200,))
    case_unauthenticated_body(h)


# ------------------------------------------------------------------ 3: unending chunk lines


def case_unauthenticated_body(h):
    # a request the token refuses is answered at its head: its body is never read (before,
    # an unauthenticated client could make the gateway hold 2 MiB per connection)
    x = Exchange(h.s, [request("POST", "/v1/tasks", [JSON_CT, "Content-Length: 2000000"],
                               token=False)], timeout=3.0, until_eof=True)
    h.expect("POST /v1/tasks without the token, 2 MB announced, body withheld", x, (401,),
             code="unauthorized", within=1.0, closed=True, bearer=True)


def case_chunk_lines(h):
    head = request("POST", "/v1/tasks", [JSON_CT, "Transfer-Encoding: chunked"])
    for what, tail in [
        ("chunked: a chunk-size line of 1 MiB of hex digits", b"0" * MIB),
        ("chunked: a chunk extension '1;' + 1 MiB", b"1;" + b"a" * MIB),
        ("chunked: a trailer line '0\\r\\nX-T: ' + 1 MiB", b"0\r\nX-T: " + b"a" * MIB),
    ]:
        before = h.sampler.now()
        x = Exchange(h.s, [head, tail], timeout=3.0, until_eof=True)
        log("%s: sent until %s, RSS %.1f -> %.1f MiB"
            % (what, x.send_error or "the end", before, h.sampler.now()))
        h.expect(what, x, (400,), code="bad_request", within=1.0, closed=True)


# ------------------------------------------------------------------ 4: pipelining, never reading


def case_pipeline_no_read(h):
    s = h.s
    pid = s.proc.pid
    pair = request("GET", "/openapi.json") + request("GET", "/v1/tasks?limit=1000")
    data = pair * 5000
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect((s.host, s.port))
    sock.setblocking(False)
    base = faults.rss_mb(pid)
    peak, sent, send_error, aborted = base, 0, None, False
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 4.0:
            if sent < len(data) and send_error is None:
                try:
                    sent += sock.send(data[sent:sent + PIECE])
                except BlockingIOError:
                    pass
                except OSError as e:
                    send_error = e.__class__.__name__
            try:
                peak = max(peak, faults.rss_mb(pid))
            except OSError:
                break  # the process is gone: service_ok() reports it
            if peak - base > 4 * RSS_GROWTH_MB:
                aborted = True  # enough to show it; spare the machine
                break
            time.sleep(0.02)
    finally:
        sock.close()
    took = time.monotonic() - t0
    log("sent %d of %d bytes (%d of 10,000 requests)%s in %.1f s; RSS %.1f -> peak %.1f MiB"
        % (sent, len(data), sent * 2 // len(pair),
           " (%s)" % send_error if send_error else "", took, base, peak))
    h.record("10,000 pipelined GETs, never read (SO_RCVBUF 4096), 4 s",
             "RSS growth < %d MiB" % RSS_GROWTH_MB,
             "growth %.1f MiB%s" % (peak - base, ", stopped early after %.1f s" % took
                                    if aborted else ""),
             peak - base < RSS_GROWTH_MB)


# ------------------------------------------------------------------ 5: NUL in JSON strings


def case_nul_strings(h):
    s = h.s
    r = call(s, "GET", "/v1/task-types")
    check(r.status == 200, "GET /v1/task-types: %s" % r.status)
    types = {t["type"]: t for t in r.json()["task_types"]}
    props = types["fail"]["params_schema"].get("properties", {})
    check("message" in props, "fail has no message param: %s" % props)

    def variant(n):
        k = n % 4
        m = h.marker(("params.text", "a params key", "idempotency_key", "params.message")[k])
        if k == 0:
            return "params.text", {"type": "text_stats", "params": {"text": "a\x00b " + m}}
        if k == 1:
            return "params", {"type": "sum", "params": {"a": 1, "b": 2, "k\x00" + m: 1}}
        if k == 2:
            return "idempotency_key", {"type": "sum", "params": {"a": 1, "b": 2},
                                       "idempotency_key": "k\x00" + m}
        return "params.message", {"type": "fail", "params": {"message": "boom\x00" + m,
                                                              "retryable": False}}

    honest = HonestLoad(s, threads=6, name="honest5")
    client = KeepAlive(s)
    outcomes = collections.Counter()
    sent = collections.Counter()
    bad = collections.defaultdict(list)
    n = 0
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 2.0:
            field, body = variant(n)
            n += 1
            r = client.post("/v1/tasks", json.dumps(body))  # json.dumps writes \u0000
            code, message = r.error()
            ok = r.status == 422 and code == "invalid_params" and field in (message or "")
            sent[field] += 1
            outcomes[field] += ok
            if not ok and len(bad[field]) < 2:
                bad[field].append("%s %s" % (r.status, (message or r.body[:100].decode(
                    errors="replace"))[:100]))
    finally:
        client.close()
        honest.stop()
    for tid, body in honest.expected.items():
        h.track(tid, body)
    for field in ("params.text", "params", "idempotency_key", "params.message"):
        h.record("\\u0000 in %s (x%d, next to 6 honest threads)" % (
            "a params key" if field == "params" else field, sent[field]),
            "422 invalid_params naming %r" % field,
            "%d of %d%s" % (outcomes[field], sent[field],
                            ("; e.g. " + " | ".join(bad[field])) if bad[field] else ""),
            sent[field] > 0 and outcomes[field] == sent[field])
    log("honest threads next to the NUL submissions: %s, %d acknowledged"
        % (dict(honest.codes), len(honest.acked)))
    try:
        faults.check_codes(honest, {202})
        ok, got = True, str(dict(honest.codes))
    except faults.Failure as e:
        ok, got = False, "%s; %s" % (dict(honest.codes), e)
    h.record("6 honest threads meanwhile", "only 202", got, ok)


# ------------------------------------------------------------------ 6: Idempotency-Key not UTF-8


def case_key_not_utf8(h):
    s = h.s
    statuses = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            statuses.append(faults.ready_status(s, timeout=1.0))
            stop.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        m = h.marker("Idempotency-Key \\xff\\xfe")
        key = b"Idempotency-Key: \xff\xfe" + m.encode()
        body = json.dumps({"type": "sum", "params": {"a": 6, "b": 6}})
        for attempt in (1, 2):
            x = Exchange(s, [request("POST", "/v1/tasks", [JSON_CT, key], body)], timeout=5.0)
            h.expect("Idempotency-Key: \\xff\\xfe%s (#%d)" % (m, attempt), x, (422,),
                     code="invalid_params", contains="Idempotency-Key")
        time.sleep(1.0)
    finally:
        stop.set()
        poller.join(5)
    bad = [st for st in statuses if st != 200]
    h.record("GET /ready during and 1 s after", "200 throughout",
             "%d of %d polls not 200: %s" % (len(bad), len(statuses),
                                              sorted(collections.Counter(bad).items(), key=str))
             if bad else "200 x%d" % len(statuses), bool(statuses) and not bad)


# ------------------------------------------------------------------ 7: bad query input


def case_bad_query(h):
    zero = "00000000-0000-0000-0000-000000000000"
    for q in ("type=%ff", "cursor=9223372036854775807_" + zero, "cursor=-99999999999999_" + zero,
              "status=%00", "limit=%ff"):
        h.probe("GET /v1/tasks?" + q, request("GET", "/v1/tasks?" + q), (400,),
                code="bad_request")


# ------------------------------------------------------------------ 8: HTTP conformance


def case_http(h):
    s = h.s
    smuggled = request("GET", "/v1/tasks")
    h.probe("POST, Transfer-Encoding: gzip, the body a second request (GET /v1/tasks)",
            request("POST", "/v1/tasks", [JSON_CT, "Transfer-Encoding: gzip"]) + smuggled,
            (400,), code="bad_request", single=True, closed=True, timeout=2.5)
    m = h.marker("Transfer-Encoding: gzip, chunked")
    h.probe("POST, Transfer-Encoding: gzip, chunked (a valid body)",
            request("POST", "/v1/tasks", [JSON_CT, "Transfer-Encoding: gzip, chunked"])
            + chunked(submission(m, m)), (400,), code="bad_request")

    for what, head_req, path in [
        ("HEAD /health, then GET /health", request("HEAD", "/health", token=False), "/health"),
        ("HEAD /v1/tasks?limit=5, then GET /health", request("HEAD", "/v1/tasks?limit=5"),
         None)]:
        x = Exchange(s, [head_req + request("GET", "/health", token=False)], heads=(True, False),
                     want=2, timeout=3.0)
        first = x.reply
        end = x.data.find(b"\r\n\r\n")
        after = x.data[end + 4:end + 13] if end >= 0 else b""
        finals = x.final()
        second = finals[1] if len(finals) > 1 else None
        problems = []
        if first is None:
            problems.append("no answer")
        else:
            if first.status != 200:
                problems.append("status %s" % first.status)
            if "content-length" not in first.headers:
                problems.append("no Content-Length")
            if after != b"HTTP/1.1 ":
                problems.append("%r after its header" % x.data[end + 4:end + 44])
            elif second is None or second.status != 200:
                problems.append("then %s" % (second.status if second else "no GET answer"))
            elif path and first.headers.get("content-length") != str(len(second.body)):
                problems.append("Content-Length %s, GET's body %d bytes"
                                % (first.headers.get("content-length"), len(second.body)))
        h.record(what, "200, Content-Length, no body (the GET's answer right after the head)",
                 "; ".join(problems) or "200, Content-Length %s, no body"
                 % first.headers.get("content-length"), not problems)

    h.probe("bare LF line ends: GET /health HTTP/1.1\\nHost: x\\n\\n",
            b"GET /health HTTP/1.1\nHost: x\n\n", (400,), within=1.0)

    # Expect: 100-continue, the body withheld until the 100 came
    body = json.dumps({"type": "sum", "params": {"a": 100, "b": 1}}).encode()
    head = request("POST", "/v1/tasks", [JSON_CT, "Expect: 100-continue",
                                         "Content-Length: %d" % len(body)])
    sock = socket.create_connection((s.host, s.port), timeout=5)
    try:
        sock.sendall(head)
        t0 = time.monotonic()
        data = b""
        while b"\r\n\r\n" not in data and time.monotonic() - t0 < 1.0:
            if not select.select([sock], [], [], max(0.0, 1.0 - (time.monotonic() - t0)))[0]:
                break
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        took = time.monotonic() - t0
        got100 = data.startswith(b"HTTP/1.1 100")
        h.record("Expect: 100-continue, body withheld", "HTTP/1.1 100 Continue within 1 s",
                 "%r after %.2f s" % (data[:40], took) if data else "nothing in %.2f s" % took,
                 got100)
        sock.sendall(body)
        deadline = time.monotonic() + 5.0
        final = None
        while final is None and time.monotonic() < deadline:
            if not select.select([sock], [], [], max(0.0, deadline - time.monotonic()))[0]:
                break
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            final = next((r for r in parse_replies(data)[0] if r.status >= 200), None)
    finally:
        sock.close()
    h.record("Expect: 100-continue, then the body", "202",
             str(final.status) if final else "no answer", final is not None
             and final.status == 202)
    if final is not None and final.status == 202:
        h.track(final.json()["id"], json.loads(body))


# ------------------------------------------------------------------ 9: wider


def case_wider(h):
    zero = "00000000-0000-0000-0000-000000000000"

    def post(what, body, headers=(JSON_CT,), path="/v1/tasks", statuses=API_4XX, **kw):
        h.probe(what, request("POST", path, list(headers), body), statuses, **kw)

    # --- framing and smuggling
    m = h.marker("two Content-Length")
    b = submission(m, m)
    h.probe("two Content-Length headers with different values",
            request("POST", "/v1/tasks", [JSON_CT, "Content-Length: %d" % len(b),
                                          "Content-Length: %d" % (len(b) + 1)], b + " ",
                    length=False))
    m = h.marker("Content-Length and Transfer-Encoding")
    b = chunked(submission(m, m))
    h.probe("Content-Length and Transfer-Encoding: chunked",
            request("POST", "/v1/tasks", [JSON_CT, "Content-Length: %d" % len(b),
                                          "Transfer-Encoding: chunked"], b, length=False))
    m = h.marker("Transfer-Encoding : chunked")
    h.probe("'Transfer-Encoding : chunked' (space before the colon)",
            request("POST", "/v1/tasks", [JSON_CT, "Transfer-Encoding : chunked"])
            + chunked(submission(m, m)))
    m = h.marker("Transfer-Encoding twice")
    h.probe("Transfer-Encoding: chunked in two header lines",
            request("POST", "/v1/tasks", [JSON_CT, "Transfer-Encoding: chunked",
                                          "Transfer-Encoding: chunked"])
            + chunked(submission(m, m)))
    h.probe("Transfer-Encoding: chunked, then a second line gzip; the body a second request",
            request("POST", "/v1/tasks", [JSON_CT, "Transfer-Encoding: chunked",
                                          "Transfer-Encoding: gzip"]) + request("GET", "/v1/tasks"),
            single=True, closed=True, timeout=2.0)
    for te in (b"\x0bchunked", b"chunked\x0b", b"xchunked", b"chunked, identity", b"identity"):
        m = h.marker("Transfer-Encoding %r" % te)
        h.probe("Transfer-Encoding: %s, a chunked body" % te.decode("latin-1").encode(
            "unicode_escape").decode(), request("POST", "/v1/tasks", [
                JSON_CT, b"Transfer-Encoding: " + te]) + chunked(submission(m, m)),
            single=True, timeout=1.5)
    m = h.marker("HTTP/1.0 chunked")
    h.probe("HTTP/1.0 POST with Transfer-Encoding: chunked",
            request("POST", "/v1/tasks", [JSON_CT, "Transfer-Encoding: chunked"],
                    version="HTTP/1.0") + chunked(submission(m, m)))
    h.probe("chunk size overflowing 64 bits",
            request("POST", "/v1/tasks", [JSON_CT, "Transfer-Encoding: chunked"])
            + b"ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n")
    h.probe("a chunk of 256 MiB announced", request("POST", "/v1/tasks",
                                                    [JSON_CT, "Transfer-Encoding: chunked"])
            + b"10000000\r\n{", (413,), within=1.0)
    for cl in ("-1", "+2", "99999999999999999999", "1e3", "0x10", "5, 6"):
        h.probe("Content-Length: %s" % cl, request("POST", "/v1/tasks", [
            JSON_CT, "Content-Length: " + cl], "{}", length=False))
    h.probe("Content-Length 3,000,000 (over the limit), body withheld",
            request("POST", "/v1/tasks", [JSON_CT, "Content-Length: 3000000"]), (413,),
            within=1.0)
    x = h.probe("Expect: 100-continue with Content-Length over the limit",
                request("POST", "/v1/tasks", [JSON_CT, "Expect: 100-continue",
                                              "Content-Length: 3000000"]), (413,), within=1.0)
    h.record("  ... and no 100 Continue before the 413", "no 100",
             "a 100 first" if any(r.status == 100 for r in x.replies) else "no 100",
             not any(r.status == 100 for r in x.replies))
    h.probe("slow body: Content-Length 1000, 10 bytes sent, then silence",
            request("POST", "/v1/tasks", [JSON_CT, "Content-Length: 1000"]) + b'{"type": "',
            (408,), timeout=HEADER_TIMEOUT_MS / 1000.0 + 2.0)
    h.probe("GET /health with a Content-Length body holding a second request",
            request("GET", "/health", ["Content-Length: %d" % len(request("GET", "/v1/tasks"))],
                    request("GET", "/v1/tasks"), length=False), (200,), single=True,
            timeout=1.5)
    m = h.marker("after Connection: close")
    h.probe("GET /health with Connection: close, then a POST on the same connection",
            request("GET", "/health", ["Connection: close"])
            + request("POST", "/v1/tasks", [JSON_CT], submission(m, m)), (200,), single=True,
            closed=True, timeout=1.5)

    # --- malformed request lines and headers
    h.probe("a header name with a space ('Foo Bar: x')",
            request("GET", "/v1/tasks?limit=1", ["Foo Bar: x"]))
    h.probe("a header line without a colon", request("GET", "/v1/tasks?limit=1", ["FooBar"]))
    h.probe("a NUL byte in the request line", request("GET", "/v1/tasks\x00?limit=1"))
    h.probe("a NUL byte in a header value", request("GET", "/health", [b"X-A: a\x00b"],
                                                    token=False))
    h.probe("a NUL byte after the token", request("GET", "/v1/tasks?limit=1",
                                                  [b"Authorization: Bearer " + TOKEN.encode()
                                                   + b"\x00junk"], token=False))
    h.probe("a bare CR in the request line", b"GET /health\rX HTTP/1.1\r\nHost: x\r\n\r\n")
    h.probe("an obs-fold header continuation (RFC 9112 5.2: 400 or read as SP)",
            request("GET", "/v1/tasks?limit=1", ["X-A: a", " b"]), (200, 400))
    h.probe("a non-ASCII header name", request("GET", "/v1/tasks?limit=1",
                                               [b"X-\xc3\xa9: v"]))
    h.probe("an extra word in the request line",
            b"GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n")
    h.probe("a method of 1,000 letters", request("A" * 1000, "/health", token=False))
    h.probe("a lower-case method (get /v1/tasks)", request("get", "/v1/tasks?limit=1"))
    h.probe("5,000 headers (~40 KiB)", request("GET", "/v1/tasks?limit=1",
                                               ["X-H-%d: v" % i for i in range(5000)]))
    h.probe("a request line of 100 KiB", request("GET", "/v1/tasks?type=" + "a" * 102400))
    h.probe("DELETE /v1/tasks/<id>", request("DELETE", "/v1/tasks/" + zero), (405,))
    h.probe("TRACE /", request("TRACE", "/", token=False))
    h.probe("CONNECT tasker:80", request("CONNECT", "tasker:80"))

    # --- paths: encoded NUL, traversal, auth bypass
    for target in ("/v1/tasks/%00", "/v1/../v1/tasks", "/v1/tasks/..%2f..%2fhealth",
                   "/v1/tasks/%2e%2e", "/v1/tasks/%s/../../../health" % zero,
                   "/v1/workers/%00/drain"):
        method = "POST" if target.endswith("/drain") else "GET"
        h.probe("%s %s" % (method, target), request(method, target))
    for target in ("/%761/tasks", "//v1/tasks", "/v1//tasks", "/V1/tasks", "/v1/tasks/",
                   "/./v1/tasks", "/v1/./tasks", "/v1/tasks;x", "/v1/tasks#x",
                   "/v1%2ftasks", "/v1/tasks%3flimit=1", "/v1/tasks%00"):
        h.probe("GET %s (no token): never 200" % target,
                request("GET", target, token=False))
    h.probe("HEAD /v1/tasks (no token)", request("HEAD", "/v1/tasks", token=False), (401,),
            heads=(True,))

    # --- query parameters
    for q in ("/v1/tasks?type=%00", "/v1/tasks?type=a%00b", "/v1/tasks?cursor=%ff",
              "/v1/tasks?limit=0", "/v1/tasks?limit=-1", "/v1/tasks?limit=1001",
              "/v1/tasks?limit=99999999999999999999", "/v1/tasks?status=completed",
              "/v1/tasks?cursor=253402300800000_" + zero,
              "/v1/tasks?" + "&".join("x%d=1" % i for i in range(2000)),
              "/v1/tasks/%s?wait_ms=1e400" % zero, "/v1/tasks/%s?wait_ms=-1" % zero,
              "/v1/tasks/%s?wait_ms=60001" % zero, "/v1/tasks/%s?wait_ms=%%ff" % zero,
              "/get-task-output?task_id=%00", "/get-task-output?task_id=%ff"):
        h.probe("GET %s" % (q if len(q) < 70 else q[:60] + "..."), request("GET", q))

    # --- JSON bodies
    m = h.marker("1e999")
    post("a number 1e999 in params", '{"type":"sum","params":{"a":1e999,"b":1},'
                                     '"idempotency_key":"%s"}' % m)
    m = h.marker("timeout_ms 1e999")
    post("timeout_ms 1e999", '{"type":"sum","params":{"a":1,"b":1},"timeout_ms":1e999,'
                             '"idempotency_key":"%s"}' % m)
    m = h.marker("NaN")
    post("NaN in params", '{"type":"sum","params":{"a":NaN,"b":1},"idempotency_key":"%s"}' % m)
    m = h.marker("nesting 100")
    post("params nested 100 levels deep",
         '{"type":"sum","params":{"a":%s1%s,"b":1},"idempotency_key":"%s"}'
         % ("[" * 100, "]" * 100, m))
    post("100,000 unclosed [", "[" * 100000)
    m = h.marker("batch of 1,001")
    post("a batch of 1,001 tasks",
         json.dumps({"tasks": [{"type": "text_stats", "params": {"text": "%s %d" % (m, i)}}
                               for i in range(1001)]}), path="/v1/tasks/batch")
    m = h.marker("batch with a NUL")
    tasks = [{"type": "text_stats", "params": {"text": "%s %d" % (m, i)}} for i in range(999)]
    tasks.insert(500, {"type": "text_stats", "params": {"text": "\x00 " + m}})
    post("a batch of 1,000, entry 500 with \\u0000", json.dumps({"tasks": tasks}),
         path="/v1/tasks/batch", statuses=(422,), contains="tasks[500]")
    m = h.marker("10,000 keys")
    params = {"a": 1, "b": 2}
    params.update(("k%d-%s" % (i, m), i) for i in range(10000))
    post("10,000 keys in params", json.dumps({"type": "sum", "params": params}))
    m = h.marker("invalid UTF-8 in a string")
    post("invalid UTF-8 bytes in a JSON string",
         b'{"type":"text_stats","params":{"text":"\xff\xfe\xc0\xaf ' + m.encode() + b'"}}')
    m = h.marker("lone surrogate")
    post("a lone surrogate \\ud800 in a JSON string",
         '{"type":"text_stats","params":{"text":"\\ud800 %s"}}' % m)
    m = h.marker("UTF-16")
    post("a UTF-16 body with its BOM", submission(m, m).encode("utf-16"))
    post("an empty body with Content-Type: application/json", "",
         headers=(JSON_CT, "Content-Length: 0"))
    m = h.marker("text/plain")
    post("Content-Type: text/plain", submission(m, m), headers=("Content-Type: text/plain",),
         statuses=(415,))
    m = h.marker("trailing garbage")
    post("trailing garbage after the JSON", submission(m, m) + " x")
    m = h.marker("comment")
    post("a /* comment */ in the JSON", "/* c */" + submission(m, m))
    m = h.marker("type with NUL")
    post("type 'sum\\u0000'", json.dumps({"type": "sum\x00", "params": {"a": 1, "b": 2},
                                          "idempotency_key": m}), statuses=(422,))
    m = h.marker("key 256")
    post("an idempotency_key of 256 characters", submission("x", m + "k" * (256 - len(m))),
         statuses=(422,))
    m = h.marker("header key 256")
    post("an Idempotency-Key header of 256 characters", submission(m),
         headers=(JSON_CT, "Idempotency-Key: " + m + "k" * (256 - len(m))), statuses=(422,))
    m = h.marker("header key NUL")
    post("an Idempotency-Key header with a NUL byte", submission(m),
         headers=(JSON_CT, b"Idempotency-Key: a\x00" + m.encode()))
    for field, value in (("priority", '"9"'), ("max_attempts", "0"), ("delay_ms", "1e18"),
                         ("run_at", '"9999-12-31T23:59:59Z"'),
                         ("run_at", '"2026-13-01T00:00:00Z"'),
                         ("run_at", '"2026-11-22T10:00:00Z\\u0000"'),
                         ("timeout_ms", "9223372036854775808")):
        m = h.marker(field)
        post("%s %s" % (field, value), '{"type":"sum","params":{"a":1,"b":1},"%s":%s,'
                                       '"idempotency_key":"%s"}' % (field, value, m),
             statuses=(422,))
    m = h.marker("text over the limit")
    post("a text_stats text of 1 MiB + 1 byte", submission("a" * (MIB + 1 - len(m)) + m),
         statuses=(422,))
    m = h.marker("body over the limit")
    post("a body of 3 MiB", submission("a" * (3 * MIB) + m), statuses=(413,))
    m = h.marker("run-task NUL")
    post("POST /run-task with \\u0000 in text",
         json.dumps({"task_name": "text_stats", "text": "a\x00 " + m}), path="/run-task",
         statuses=(422,))


# ------------------------------------------------------------------ 10: memory (wider, too)


class Growth:
    """Peak RSS growth of the coordinator while a block runs (sampled every 10 ms)."""

    def __init__(self, server):
        self.pid = server.proc.pid
        self.base = faults.rss_mb(self.pid)
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.01):
            try:
                self.peak = max(self.peak, faults.rss_mb(self.pid))
            except OSError:
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def mb(self):
        return self.peak - self.base


def case_memory(h):
    s = h.s
    # 2 MiB of JSON that parses into ~700,000 values before it is refused
    inner = "[]," * ((2 * MIB - 200) // 3)
    body = '{"type":"sum","params":{"a":1,"b":1,"x":[%s[]]}}' % inner
    with Growth(s) as g:
        for i in range(3):
            health = []
            x = Exchange(s, [request("POST", "/v1/tasks", [JSON_CT], body)], timeout=5.0,
                         before_read=lambda: health.append(
                             call(s, "GET", "/health", token=False, timeout=5.0)))
            health = health[0]
            h.expect("2 MiB body of 700,000 empty arrays in params (#%d)" % (i + 1), x, API_4XX)
            h.record("  GET /health meanwhile (#%d)" % (i + 1), "200 within 1 s",
                     "%s in %.2f s" % (health.status, health.at), health.status == 200
                     and health.at <= 1.0)
    h.record("3 x 2 MiB of empty arrays", "RSS growth < %d MiB" % RSS_GROWTH_MB,
             "growth %.1f MiB" % g.mb(), g.mb() < RSS_GROWTH_MB)

    # many large uploads at once, none finished: each is within max_body_bytes, their sum
    # is not; the largest are refused (503) past max_request_buffer_bytes, small requests
    # go on, the rest time out
    uploads = []
    head = request("POST", "/v1/tasks", [JSON_CT, "Content-Length: %d" % (2 * MIB - 1)])
    with Growth(s) as g:
        try:
            for _ in range(UPLOADS):
                c = socket.create_connection((s.host, s.port), timeout=5)
                uploads.append({"sock": c, "answer": b"", "at": None})
                try:
                    c.sendall(head)
                    for _ in range(MIB // PIECE):
                        c.sendall(b" " * PIECE)
                except OSError:
                    pass
            t0 = time.monotonic()
            small = call(s, "POST", "/v1/tasks", {"type": "sum", "params": {"a": 5, "b": 5}})
            h.record("a small submit while %d uploads hold %d MiB" % (UPLOADS, UPLOADS),
                     "202", str(small.status), small.status == 202)
            if small.status == 202:
                h.track(small.json()["id"], {"type": "sum", "params": {"a": 5, "b": 5}})
            for u in uploads:
                u["sock"].settimeout(0.05)
            while time.monotonic() - t0 < HEADER_TIMEOUT_MS / 1000.0 + 2.0:
                if all(u["at"] is not None for u in uploads):
                    break
                for u in uploads:
                    if u["at"] is not None:
                        continue
                    try:
                        data = u["sock"].recv(65536)
                    except socket.timeout:
                        continue
                    except OSError:
                        data = b""
                    u["answer"] += data
                    if not data:
                        u["at"] = time.monotonic() - t0
        finally:
            for u in uploads:
                u["sock"].close()
    statuses = collections.Counter(u["answer"][9:12].decode(errors="replace") or "none"
                                   for u in uploads)
    refused = statuses.get("503", 0)
    h.record("%d uploads of 1 MiB each, unfinished, budget %d MiB" % (
                 UPLOADS, REQUEST_BUFFER_MB),
             ">= %d refused 503 at once, the rest 408; growth < %d MiB" % (
                 UPLOADS - REQUEST_BUFFER_MB, RSS_GROWTH_MB),
             "%s, growth %.1f MiB" % (dict(statuses), g.mb()),
             refused >= UPLOADS - REQUEST_BUFFER_MB
             and set(statuses) <= {"503", "408"} and g.mb() < RSS_GROWTH_MB)

    # responses ready behind a slow one: a long-poll first, then 63 list pages, never read
    # (the pages waited in the gateway, uncounted, and were all written at once after it)
    late = call(s, "POST", "/v1/tasks", {"type": "sum", "params": {"a": 6, "b": 6},
                                         "delay_ms": 30000})
    h.record("a task due in 30 s for the long-poll", "202", str(late.status), late.status == 202)
    if late.status == 202:
        h.track(late.json()["id"], {"type": "sum", "params": {"a": 6, "b": 6}})
        slow = request("GET", "/v1/tasks/%s?wait_ms=10000" % late.json()["id"])
        page = request("GET", "/v1/tasks?limit=1000")
        held = []
        with Growth(s) as g:
            try:
                for _ in range(3):
                    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    c.settimeout(5)
                    c.connect((s.host, s.port))
                    c.sendall(slow + page * 63)
                    held.append(c)
                t0 = time.monotonic()
                cut = [None] * len(held)
                while time.monotonic() - t0 < 3.0 and None in cut:
                    for i, c in enumerate(held):
                        if cut[i] is None and c.fileno() >= 0:
                            r, _, _ = select.select([c], [], [], 0)
                            if r:
                                # read nothing but whether the server closed: peek
                                try:
                                    gone = c.recv(1, socket.MSG_PEEK) == b""
                                except OSError:
                                    gone = True
                                if gone:
                                    cut[i] = time.monotonic() - t0
                    time.sleep(0.05)
            finally:
                for c in held:
                    c.close()
        # (cancelled, so that the scenario need not wait for it to come due)
        call(s, "POST", "/v1/tasks/%s/cancel" % late.json()["id"])
        # (the pages are refused past the lists in flight, or the connection is cut off
        # past its bound: either way little waits)
        h.record("3 connections: a long-poll, then 63 list pages, never read",
                 "growth < %d MiB" % (RSS_GROWTH_MB // 2),
                 "growth %.1f MiB, cut after %s s" % (
                     g.mb(), ["-" if x is None else "%.1f" % x for x in cut]),
                 g.mb() < RSS_GROWTH_MB // 2)

    # many connections that pipeline list requests and never read
    conns = []
    one = request("GET", "/v1/tasks?limit=1000")
    with Growth(s) as g:
        try:
            for _ in range(100):
                c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                c.settimeout(5)
                c.connect((s.host, s.port))
                c.setblocking(False)
                conns.append(c)
                try:
                    c.send(one * 64)
                except OSError:
                    pass
            t0 = time.monotonic()
            while time.monotonic() - t0 < 4.0 and g.mb() < 4 * RSS_GROWTH_MB:
                time.sleep(0.05)
        finally:
            for c in conns:
                c.close()
    log("100 connections x 64 pipelined GET /v1/tasks?limit=1000, never read: RSS %.1f -> "
        "peak %.1f MiB" % (g.base, g.peak))
    h.record("100 connections x 64 GET /v1/tasks?limit=1000, never read, 4 s",
             "RSS growth < %d MiB" % RSS_GROWTH_MB, "growth %.1f MiB" % g.mb(),
             g.mb() < RSS_GROWTH_MB)


# ------------------------------------------------------------------ main


def main():
    db = faults.shared_database("system_hostile")
    s = faults.coordinator(db, {"TASKER_AUTH_TOKEN": TOKEN,
                                "TASKER_HEADER_TIMEOUT_MS": str(HEADER_TIMEOUT_MS),
                                "TASKER_MAX_REQUEST_BUFFER_BYTES": str(REQUEST_BUFFER_MB * MIB),
                                "TASKER_MAX_RESPONSE_BUFFER_BYTES": str(RESPONSE_BUFFER_MB * MIB),
                                "TASKER_LOCAL_SLOTS": "4"})
    s.start()
    load = None
    try:
        load = HonestLoad(s, threads=4, name="honest", pace_s=0.02)
        h = Hostile(s)
        body = {"type": "sum", "params": {"a": 1, "b": 2}}
        r = call(s, "POST", "/v1/tasks", body)
        check(r.status == 202, "a first honest submit: %s %s" % (r.status, r.body[:200]))
        h.track(r.json()["id"], body)
        t0 = time.monotonic()
        h.run_case("1", "targets that are not paths; auth", case_targets_and_auth)
        log("---- case 2: the cluster port (covered elsewhere: skipped)")
        h.run_case("3", "chunked lines that never end", case_chunk_lines)
        h.run_case("4", "pipelining without reading", case_pipeline_no_read)
        h.run_case("5", "NUL in JSON strings next to honest submitters", case_nul_strings)
        h.run_case("6", "an Idempotency-Key header that is not UTF-8", case_key_not_utf8)
        h.run_case("7", "bad query input", case_bad_query)
        h.run_case("8", "HTTP conformance", case_http)
        h.run_case("9", "wider", case_wider)
        h.run_case("10", "memory: JSON amplification, many connections that never read",
                   case_memory)
        log("all cases in %.1f s" % (time.monotonic() - t0))

        load.stop()
        log("honest load: %s, %d acknowledged" % (dict(load.codes), len(load.acked)))
        try:
            faults.check_codes(load, {202})
        except faults.Failure as e:
            h.fail("the honest clients: %s" % str(e)[:400])
        stored = h.stored_markers()
        by_case = collections.defaultdict(list)
        for m in stored:
            case, what = h.markers.get(m, ("?", "?"))
            by_case[case].append("%s (%s)" % (m, what))
        for case, found in sorted(by_case.items()):
            h.fail("case %s: refused submissions were stored: %s" % (case, ", ".join(found[:8])))
        log("%d hostile markers sent, %d found in the tasks table" % (len(h.markers), len(stored)))
        ids = load.ids() + h.ids
        expected = dict(load.expected)
        expected.update(h.expected)
        terminal, lost, dupes = faults.verify(s.db_url, ids, expected, timeout=60,
                                              terminal_logs=[s])
        if lost:
            h.fail("%d acknowledged tasks lost or unfinished" % len(lost))
        if dupes:
            h.fail("%d tasks applied twice or with a wrong result" % len(dupes))
        peak = h.sampler.stop()
        h.print_table()
        bad_rows = sum(1 for row in h.rows if not row[4])
        log("%d requests checked, %d answered wrong; %d restarts; peak RSS per case %s"
            % (len(h.rows), bad_rows, h.restarts, h.case_peaks))
        if h.failures:
            log("%d failures:" % len(h.failures))
            for f in h.failures:
                log("  -", f)
            raise faults.Failure("%d failures (listed above)" % len(h.failures))
        faults.report("hostile", len(ids), terminal, lost, dupes, peak, None,
                      {"requests": len(h.rows), "markers": len(h.markers),
                       "stored_markers": len(stored), "restarts": h.restarts,
                       "case_peak_rss_mb": h.case_peaks},
                      rss_bound_mb=int(h.bound()) + 1)
    finally:
        if load is not None:
            load.stop()
        s.close()


if __name__ == "__main__":
    faults.run(main)
