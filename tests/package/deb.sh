#!/usr/bin/env bash
# package.deb: builds the Debian package (cpack -G DEB in the build folder)
# and checks its control data and contents; then, as root, installs it with
# apt-get, checks the installed tasker (--version, the units with
# systemd-analyze verify, the tasker user, /var/lib/tasker), runs
# `tasker serve --config /etc/tasker/tasker.conf` and a
# `tasker worker --config /etc/tasker/worker.conf` from it as the tasker user,
# under the units' NoNewPrivileges, MemoryDenyWriteExecute and
# RestrictAddressFamilies (confine.py: there may be no systemd to start the
# units), against a fresh database of TASKER_TEST_PG_URL, runs a task on the
# worker, stops both, and purges the package, leaving the machine as found.
# Exit code 77 (skipped): not root, no TASKER_TEST_PG_URL, or tasker
# installed already (not ours to remove).
#   tests/package/deb.sh BUILD_DIR VERSION
set -euo pipefail
build=$(cd "${1:?usage: deb.sh BUILD_DIR VERSION}" && pwd)
version=${2:?usage: deb.sh BUILD_DIR VERSION}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
artifacts=$build/test-artifacts/package
mkdir -p "$artifacts"

step() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
# Prints the lines of file $1 matching $2, or fails naming what is missing.
need() { grep -E -m 1 -- "$2" "$1" || fail "${3:-$1 has no line matching $2}"; }
# Waits up to $2 seconds for process $1 to end (SIGKILL after that), and
# returns its exit code.
wait_for() {
  local pid=$1 rc=0
  for _ in $(seq 1 $(($2 * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; echo "killed $pid after $2 s" >&2; }
  wait "$pid" || rc=$?
  return $rc
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

for tool in cpack dpkg-deb dpkg-query apt-get setpriv psql curl python3 timeout; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done

step "cpack -G DEB"
rm -f "$build"/tasker_*.deb
(cd "$build" && timeout 180 cpack -G DEB) >"$artifacts/cpack.log" 2>&1 \
  || { cat "$artifacts/cpack.log"; fail "cpack failed"; }
tail -n 3 "$artifacts/cpack.log"
arch=$(dpkg --print-architecture)
deb=$build/tasker_${version}_${arch}.deb
[ -f "$deb" ] || fail "no $deb (DEB-DEFAULT file name): $(ls "$build"/*.deb 2>&1)"
echo "$deb: $(du -h "$deb" | cut -f1)"

step "dpkg-deb --info"
dpkg-deb --info "$deb" >"$artifacts/info.txt"
need "$artifacts/info.txt" "^ Package: tasker$"
need "$artifacts/info.txt" "^ Version: ${version//./\\.}$"
need "$artifacts/info.txt" "^ Architecture: $arch$"
need "$artifacts/info.txt" "^ Depends: .*libcaf-core" "Depends lacks libcaf (shlibdeps)"
need "$artifacts/info.txt" "^ Depends: .*libpqxx" "Depends lacks libpqxx (shlibdeps)"
need "$artifacts/info.txt" "^ Recommends: postgresql$"
need "$artifacts/info.txt" "^ Maintainer: "
need "$artifacts/info.txt" "^ Section: "
for script in postinst prerm postrm conffiles; do
  need "$artifacts/info.txt" "[[:space:]]$script([[:space:]]|$)" "the package has no $script"
done
dpkg-deb --info "$deb" conffiles >"$artifacts/conffiles.txt"
need "$artifacts/conffiles.txt" "^/etc/tasker/tasker.conf$"
need "$artifacts/conffiles.txt" "^/etc/tasker/worker.conf$"

step "dpkg-deb --contents"
dpkg-deb --contents "$deb" >"$artifacts/contents.txt"
need "$artifacts/contents.txt" "^-rwxr-xr-x root/root .* \./usr/bin/tasker$"
need "$artifacts/contents.txt" " \./usr/lib/systemd/system/tasker\.service$"
need "$artifacts/contents.txt" " \./usr/lib/systemd/system/tasker-worker@\.service$"
need "$artifacts/contents.txt" "^-rw-r----- root/root .* \./etc/tasker/tasker\.conf$"
need "$artifacts/contents.txt" "^-rw-r----- root/root .* \./etc/tasker/worker\.conf$"

[ "$(id -u)" = 0 ] || skip "the package is built and checked; installing it needs root"
[ -n "${TASKER_TEST_PG_URL:-}" ] || skip "TASKER_TEST_PG_URL is not set"
if dpkg-query -W -f='${Status}' tasker 2>/dev/null | grep -q "ok installed"; then
  skip "the tasker package is installed on this machine already: not touching it"
fi
user_existed=no
getent passwd tasker >/dev/null && user_existed=yes
group_existed=no
getent group tasker >/dev/null && group_existed=yes

db=tasker_pkg_$$_$RANDOM
admin=$TASKER_TEST_PG_URL
db_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$admin" "$db")
serve_pid=
worker_pid=
confine=
cleanup() {
  local rc=$?
  set +e
  for pid in $worker_pid $serve_pid; do
    kill -KILL "$pid" 2>/dev/null
  done
  if dpkg-query -W -f='${Status}' tasker 2>/dev/null | grep -q "installed"; then
    DEBIAN_FRONTEND=noninteractive timeout 120 apt-get purge -y -q \
      -o DPkg::Lock::Timeout=60 tasker >"$artifacts/purge-cleanup.log" 2>&1
  fi
  [ -n "$confine" ] && rm -f "$confine"
  [ "$user_existed" = no ] && getent passwd tasker >/dev/null && userdel tasker
  [ "$group_existed" = no ] && getent group tasker >/dev/null && groupdel tasker
  timeout 30 psql "$admin" -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
  exit $rc
}
trap cleanup EXIT

step "apt-get install ./$(basename "$deb")"
DEBIAN_FRONTEND=noninteractive timeout 180 apt-get install -y -q --no-install-recommends \
  -o DPkg::Lock::Timeout=60 "$deb" >"$artifacts/install.log" 2>&1 \
  || { cat "$artifacts/install.log"; fail "apt-get install failed"; }
grep -E "^(Setting up|Unpacking) tasker" "$artifacts/install.log"

step "tasker --version"
installed=$(timeout 10 /usr/bin/tasker --version)
echo "$installed"
[[ "$installed" =~ ^tasker\ ${version//./\\.}\ \(commit\ ([0-9a-f]{12}(-dirty)?|unknown),\ built\ [0-9]{4}-[0-9]{2}-[0-9]{2}\)$ ]] \
  || fail "unexpected --version: $installed"
commit=${BASH_REMATCH[1]}
[ "$installed" = "$(timeout 10 "$build/tasker" --version)" ] \
  || fail "the package's binary is not the build's: $(timeout 10 "$build/tasker" --version)"
if git -C "$src" rev-parse HEAD >/dev/null 2>&1; then
  [ "$commit" != unknown ] || fail "built from a git checkout, yet the commit is unknown"
fi
[ "$(timeout 10 /usr/bin/tasker version)" = "$installed" ] || fail "tasker version differs"

step "systemd-analyze verify"
units=/usr/lib/systemd/system
grep -H "^ExecStart=" "$units/tasker.service" "$units/tasker-worker@.service"
need "$units/tasker.service" "^ExecStart=/usr/bin/tasker serve --config /etc/tasker/tasker.conf$" >/dev/null
if command -v systemd-analyze >/dev/null; then
  # Offline: no systemd needs to run. A template is verified as an instance
  # (tasker-worker@i). Any message about our units fails.
  if ! timeout 60 systemd-analyze verify --man=no "$units/tasker.service" \
      "$units/tasker-worker@.service" >"$artifacts/verify.log" 2>&1; then
    cat "$artifacts/verify.log"
    fail "systemd-analyze verify failed"
  fi
  if grep -E "tasker" "$artifacts/verify.log"; then
    fail "systemd-analyze verify has something to say about the units"
  fi
  echo "verified (output: $(wc -l <"$artifacts/verify.log") lines, none about tasker)"
else
  fail "systemd-analyze is missing (the systemd package: scripts/lib.sh TASKER_TEST_PACKAGES)"
fi

step "user, state folder, config permissions"
getent passwd tasker
IFS=: read -r _ _ _ _ _ home shell < <(getent passwd tasker)
[ "$home" = /var/lib/tasker ] || fail "the tasker user's home is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "the tasker user's shell is $shell"
[ "$(stat -c '%U:%G %a' /var/lib/tasker)" = "tasker:tasker 750" ] \
  || fail "/var/lib/tasker is $(stat -c '%U:%G %a' /var/lib/tasker)"
for conf in /etc/tasker/tasker.conf /etc/tasker/worker.conf; do
  [ "$(stat -c '%U:%G %a' "$conf")" = "root:tasker 640" ] \
    || fail "$conf is $(stat -c '%U:%G %a' "$conf")"
done
stat -c '%n %U:%G %a' /var/lib/tasker /etc/tasker/tasker.conf /etc/tasker/worker.conf

step "tasker serve and tasker worker as the tasker user"
timeout 30 psql "$admin" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >/dev/null
http_port=$(free_port)
cluster_port=$(free_port)
secret=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
# As the units start them: the tasker user and group, in /var/lib/tasker,
# the settings not in the config files from the environment (what
# /etc/tasker/tasker.env and worker.env hold). Run in the background: the
# subshell, setpriv, env and confine.py each exec the next, so that $! is
# tasker's own process id.
as_tasker() {
  exec setpriv --reuid=tasker --regid=tasker --init-groups -- \
    env HOME=/var/lib/tasker "$@"
}
# confine.py from where the tasker user can read it (not so the checkout).
confine=$(mktemp /tmp/tasker-confine.XXXXXX)
cp "$here/confine.py" "$confine"
chmod 644 "$confine"
cd /var/lib/tasker
as_tasker TASKER_DB_URL="$db_url" TASKER_HTTP_PORT="$http_port" \
  TASKER_CLUSTER_PORT="$cluster_port" TASKER_CLUSTER_SECRET="$secret" \
  TASKER_LOCAL_SLOTS=0 python3 "$confine" \
  /usr/bin/tasker serve --config /etc/tasker/tasker.conf >"$artifacts/serve.log" 2>&1 &
serve_pid=$!
as_tasker TASKER_JOIN="127.0.0.1:$cluster_port" TASKER_CLUSTER_SECRET="$secret" \
  TASKER_LOG_FORMAT=text python3 "$confine" \
  /usr/bin/tasker worker --config /etc/tasker/worker.conf --node-name pkgtest \
  >"$artifacts/worker.log" 2>&1 &
worker_pid=$!
base=http://127.0.0.1:$http_port
code=
for _ in $(seq 1 150); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/ready" || true)
  [ "$code" = 200 ] && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$artifacts/serve.log"; fail "tasker serve exited"; }
  sleep 0.2
done
[ "$code" = 200 ] || { cat "$artifacts/serve.log"; fail "/ready answered $code within 30 s"; }
echo "GET /ready: 200"
curl -s --max-time 5 -D "$artifacts/dashboard.headers" "$base/" >"$artifacts/dashboard.html"
need "$artifacts/dashboard.headers" "^HTTP/1.1 200" >/dev/null
need "$artifacts/dashboard.headers" "^[Cc]ontent-[Tt]ype: text/html" >/dev/null
need "$artifacts/dashboard.html" "<title>tasker</title>" >/dev/null
echo "GET /: 200, the dashboard ($(wc -c <"$artifacts/dashboard.html") bytes)"
# local_slots is 0: only the worker node can run it.
id=$(curl -s --max-time 5 -X POST "$base/v1/tasks" -H 'Content-Type: application/json' \
       -d '{"type": "sum", "params": {"a": 20, "b": 22}}' \
     | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
curl -s --max-time 20 "$base/v1/tasks/$id?wait_ms=15000" >"$artifacts/task.json"
python3 - "$artifacts/task.json" <<'PY' || { cat "$artifacts/worker.log"; fail "the task did not complete on the worker"; }
import json, sys
task = json.load(open(sys.argv[1]))
print("task", task["id"], task["status"], task.get("result"), task.get("worker_id"))
assert task["status"] == "COMPLETED" and task["result"] == {"sum": 42}, task
assert (task.get("worker_id") or "").startswith("pkgtest/"), task
PY
need "$artifacts/serve.log" '"message":"starting".*"version":"'"${version//./\\.}"'"' >/dev/null
need "$artifacts/worker.log" "^[0-9T:.-]+Z INFO  worker: starting .*version=${version//./\\.}" >/dev/null
echo "the start is logged with the version (serve: JSON, worker: text)"

step "SIGTERM: the worker drains, the coordinator stops in order"
kill -TERM "$worker_pid"
wait_for "$worker_pid" 15 || fail "tasker worker exited with $? after SIGTERM"
worker_pid=
kill -TERM "$serve_pid"
wait_for "$serve_pid" 20 || fail "tasker serve exited with $? after SIGTERM"
serve_pid=
echo "both exited with 0"

step "apt-get purge tasker"
cd /
DEBIAN_FRONTEND=noninteractive timeout 120 apt-get purge -y -q -o DPkg::Lock::Timeout=60 \
  tasker >"$artifacts/purge.log" 2>&1 || { cat "$artifacts/purge.log"; fail "apt-get purge failed"; }
grep -E "^(Removing|Purging)" "$artifacts/purge.log"
for gone in /usr/bin/tasker "$units/tasker.service" "$units/tasker-worker@.service" \
            /etc/tasker /var/lib/tasker; do
  [ ! -e "$gone" ] || fail "$gone is left after the purge"
done
echo "PASS"
