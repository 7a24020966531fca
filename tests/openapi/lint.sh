#!/usr/bin/env bash
# Lints the OpenAPI document a real server serves (GET /openapi.json) with
# redocly (web/node_modules, @redocly/cli 2.x) and tests/openapi/redocly.yaml:
# once with the built-in task types, once with task types declared in a file
# (so that the component names generated for them are linted too).
#
# Each run creates a fresh database in the cluster named by
# TASKER_TEST_PG_URL, starts `tasker serve` on it with TASKER_HTTP_PORT=0,
# learns the port from the "listening" log line, fetches the document, stops
# the server and drops the database. Every wait is bounded.
#
#   TASKER_TEST_PG_URL=postgresql://postgres@127.0.0.1:25992/postgres \
#     bash tests/openapi/lint.sh
#
# TASKER_BIN overrides the binary (default build/tasker). Exit 77 (skipped)
# when redocly is not installed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
redocly=$root/web/node_modules/.bin/redocly
bin=${TASKER_BIN:-$root/build/tasker}
config=$here/redocly.yaml

if [ ! -x "$redocly" ]; then
  echo "lint.sh: $redocly is missing (npm ci --prefix web); skipped" >&2
  exit 77
fi
admin=${TASKER_TEST_PG_URL:-}
if [ -z "$admin" ]; then
  echo "lint.sh: set TASKER_TEST_PG_URL to a PostgreSQL admin URL" \
       "(scripts/pg.sh start DIR PORT prints one)" >&2
  exit 1
fi
[ -x "$bin" ] || { echo "lint.sh: no tasker binary at $bin" >&2; exit 1; }
for tool in psql curl python3; do
  command -v "$tool" >/dev/null || { echo "lint.sh: $tool is not installed" >&2; exit 1; }
done

# No network: redocly must not phone home or look for updates.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
export NO_UPDATE_NOTIFIER=1

work=$(mktemp -d "${TMPDIR:-/tmp}/tasker-openapi.XXXXXX")
pid=""
db=""

psql_admin() {
  timeout 30 psql "$admin" -X -q -v ON_ERROR_STOP=1 -c "$1" </dev/null
}

# The admin URL with another database (a URL or key=value conninfo).
db_url() {
  python3 - "$admin" "$1" <<'EOF'
import sys, urllib.parse
admin, name = sys.argv[1], sys.argv[2]
if admin.startswith(("postgres://", "postgresql://")):
    p = urllib.parse.urlsplit(admin)
    print(urllib.parse.urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment)))
else:
    print("%s dbname=%s" % (admin, name))
EOF
}

stop_server() {
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "lint.sh: tasker did not stop within 15 s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  pid=""
}

drop_db() {
  [ -n "$db" ] || return 0
  psql_admin "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
    || echo "lint.sh: could not drop database $db" >&2
  db=""
}

cleanup() {
  stop_server
  drop_db
  rm -rf "$work"
}
trap cleanup EXIT

# Serves once with the environment given as arguments (NAME=VALUE ...) and
# writes its /openapi.json to $work/<label>.json.
fetch_document() {
  local label=$1
  shift
  db="tasker_openapi_$(python3 -c 'import uuid; print(uuid.uuid4().hex[:16])')"
  psql_admin "CREATE DATABASE \"$db\""
  local log=$work/$label.log
  : >"$log"
  env "$@" TASKER_DB_URL="$(db_url "$db")" TASKER_HTTP_HOST=127.0.0.1 \
      TASKER_HTTP_PORT=0 TASKER_CLUSTER_PORT=0 TASKER_LOG_LEVEL=info \
      "$bin" serve </dev/null >"$work/$label.out" 2>"$log" &
  pid=$!
  local port=""
  for _ in $(seq 300); do
    port=$(python3 - "$log" <<'EOF'
import json, sys
for line in open(sys.argv[1], errors="replace"):
    try:
        js = json.loads(line)
    except ValueError:
        continue
    if isinstance(js, dict) and js.get("message") == "listening" and js.get("port"):
        print(js["port"])
        break
EOF
)
    [ -n "$port" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "lint.sh: tasker ($label) exited before listening:" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "lint.sh: tasker ($label) logged no \"listening\" line within 30 s:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  local status
  status=$(curl -sS --max-time 30 -o "$work/$label.raw.json" -w '%{http_code}' \
                "http://127.0.0.1:$port/openapi.json")
  if [ "$status" != 200 ]; then
    echo "lint.sh: GET /openapi.json ($label) answered $status" >&2
    head -c 2000 "$work/$label.raw.json" >&2 || true
    exit 1
  fi
  stop_server
  drop_db
  # (Indented, so that redocly's findings point at readable lines.)
  python3 -m json.tool "$work/$label.raw.json" >"$work/$label.json"
  echo "lint.sh: fetched /openapi.json ($label, $(wc -c <"$work/$label.raw.json") bytes)"
}

# Declared task types of every kind of run, with names that use each
# character a name may hold (letters, digits, _, - and .).
cat >"$work/task_types.json" <<'EOF'
{"task_types": [
  {"name": "resize",
   "description": "Resizes an image.",
   "params": {
     "properties": {
       "url":   {"type": "string", "minLength": 1, "maxLength": 2048},
       "width": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 800},
       "mode":  {"enum": ["fit", "fill"], "default": "fit"},
       "tags":  {"type": "array", "items": {"type": "string"}, "maxItems": 8,
                 "examples": [["a", "b"]]},
       "extra": true
     },
     "required": ["url"]
   },
   "timeout_ms": 120000,
   "max_attempts": 5,
   "run": "pull"},
  {"name": "report.v2-daily_1",
   "description": "Runs a program.",
   "params": {"properties": {"day": {"type": "string", "title": "Day"}},
              "additionalProperties": {"type": "integer"}},
   "run": "command",
   "command": {"argv": ["true"]}},
  {"name": "notify",
   "params": {"properties": {"user": {"type": "integer"}}, "required": ["user"]},
   "run": "http",
   "http": {"url": "http://127.0.0.1:9/notify"}}
]}
EOF

fetch_document builtin
fetch_document declared TASKER_TASK_TYPES="$work/task_types.json"

# The declared types are in the document, each with a schema of its own;
# the endpoints and error codes of docs/API.md (the contract) are in it.
python3 - "$work/declared.json" "$root/docs/API.md" <<'EOF'
import json, re, sys
doc = json.load(open(sys.argv[1]))
api = open(sys.argv[2]).read()
mapping = doc["components"]["schemas"]["Submission"]["discriminator"]["mapping"]
for name in ("resize", "report.v2-daily_1", "notify", "sum"):
    assert name in mapping, "no submission schema for %s: %s" % (name, sorted(mapping))
shape = lambda path: re.sub(r"\{[^}]*\}", "{}", path)
ops = {(m.upper(), shape(p)) for p, item in doc["paths"].items() for m in item}
endpoints = re.findall(r"^\| `(GET|POST|PUT|DELETE|PATCH) (/[^`?]*)`", api, re.M)
assert endpoints, "no endpoints table in docs/API.md"
missing = [m + " " + p for m, p in endpoints if (m, shape(p)) not in ops]
assert not missing, "docs/API.md endpoints missing from the document: %s" % missing
errors = api[api.index("\n## Errors"):]
codes = re.findall(r"^\| \d{3} \| `([a-z_]+)` \|", errors, re.M)
assert codes, "no Errors table in docs/API.md"
enum = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
missing = sorted(set(codes) - set(enum))
assert not missing, "error codes of docs/API.md missing from the document: %s" % missing
print("lint.sh: the document has the declared types, the %d endpoints and the %d "
      "error codes of docs/API.md" % (len(endpoints), len(codes)))
EOF

status=0
for label in builtin declared; do
  echo "lint.sh: redocly lint ($label)"
  timeout 300 "$redocly" lint --config "$config" --format stylish \
    "$work/$label.json" || status=1
done
exit $status
