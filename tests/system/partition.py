"""The active coordinator is cut off from PostgreSQL (a network partition), then healed.

The active coordinator c0 runs in a network namespace of its own with two veth pairs to this
one: one that carries its database traffic (PostgreSQL listens on the root side's address) and
one for everything else (its HTTP and cluster ports, which the load, the standby and the worker
nodes reach). The partition is a blackhole route to the database's address inside c0's
namespace: its packets to PostgreSQL vanish, nothing else changes (the test's own addresses
only). The standby c1 and two worker nodes (which take the list of both coordinators) run here.

Under load through both coordinators: c1 takes over within 5 s; c0, unable to renew, stands
down after two leases and its worker nodes move to c1; once healed, c0 stays a standby and
forwards to c1. Every acknowledged task ends terminal exactly once. Needs root (ip netns);
exits 77 (skipped) without it.
"""

import os
import subprocess
import sys
import tempfile
import time

import faults
from faults import check, log

sys.path.insert(0, os.path.join(faults.ROOT, "tests", "e2e"))
from harness import TaskerServer, free_port, psql  # noqa: E402
from test_failover import Loader, ready_of  # noqa: E402
from test_workers import Worker  # noqa: E402

LEASE_MS = 2000
TAKEOVER_LIMIT_S = 5.0


def sh(*args, check_rc=True):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if check_rc and p.returncode != 0:
        raise faults.Failure("%s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))
    return p.stdout.decode()


class Namespace:
    """A network namespace with a database link and a service link to this namespace."""

    def __init__(self):
        n = os.getpid() % 200 + 20
        self.name = "tk-part-%d" % os.getpid()
        self.pg_root, self.pg_ns = "10.%d.1.1" % n, "10.%d.1.2" % n
        self.net_root, self.net_ns = "10.%d.2.1" % n, "10.%d.2.2" % n
        self.links = ["tkd%d" % os.getpid(), "tks%d" % os.getpid()]
        sh("ip", "netns", "add", self.name)
        try:
            for link, root, ns in ((self.links[0], self.pg_root, self.pg_ns),
                                   (self.links[1], self.net_root, self.net_ns)):
                peer = link + "p"
                sh("ip", "link", "add", link, "type", "veth", "peer", "name", peer)
                sh("ip", "link", "set", peer, "netns", self.name)
                sh("ip", "addr", "add", root + "/30", "dev", link)
                sh("ip", "link", "set", link, "up")
                self.run("ip", "addr", "add", ns + "/30", "dev", peer)
                self.run("ip", "link", "set", peer, "up")
            self.run("ip", "link", "set", "lo", "up")
        except Exception:
            self.close()
            raise

    def run(self, *args):
        return sh("ip", "netns", "exec", self.name, *args)

    def cut(self):
        self.run("ip", "route", "add", "blackhole", self.pg_root + "/32")

    def heal(self):
        self.run("ip", "route", "del", "blackhole", self.pg_root + "/32")

    def close(self):
        for link in self.links:
            sh("ip", "link", "del", link, check_rc=False)
        sh("ip", "netns", "del", self.name, check_rc=False)


def wait_role(port, host, role, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = ready_of(port, host)
        if isinstance(body, dict) and body.get("role") == role and status == 200:
            return time.monotonic()
        time.sleep(0.02)
    return None


def main():
    if os.getuid() != 0:
        log("skipped: network namespaces need root")
        sys.exit(77)
    ns = Namespace()
    pg = None
    servers, workers = [], []
    wrapper_dir = tempfile.mkdtemp(prefix="tasker-partition-")
    try:
        # PostgreSQL listens on the database link too, and trusts it.
        pg = faults.PrivatePg()
        subprocess.run([os.path.join(faults.ROOT, "scripts", "pg.sh"), "stop", pg.dir],
                       check=True, timeout=120)
        with open(os.path.join(pg.dir, "data", "pg_hba.conf"), "a") as f:
            f.write("host all all %s/30 trust\n" % ns.pg_root)
        os.environ["TASKER_PG_LISTEN"] = "127.0.0.1,%s" % ns.pg_root
        pg.start()
        del os.environ["TASKER_PG_LISTEN"]
        db = pg.database("partition")
        binary = os.environ.get("TASKER_BIN", os.path.join(faults.ROOT, "build", "tasker"))
        # c0 runs inside the namespace (the harness starts the wrapper; its pid is tasker's).
        wrapper = os.path.join(wrapper_dir, "tasker-in-namespace")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n" % (ns.name, binary))
        os.chmod(wrapper, 0o755)
        http_ports = [free_port(), free_port()]
        cluster_ports = [free_port(), free_port()]
        common = {"TASKER_CLUSTER_SECRET": faults.SECRET, "TASKER_LEASE_MS": str(LEASE_MS),
                  "TASKER_LOCAL_SLOTS": "0", "TASKER_NODE_SUSPECT_MS": "1000",
                  "TASKER_NODE_DEAD_MS": "2500"}
        c0_db = (db[0], db[1].replace("127.0.0.1", ns.pg_root))
        c0 = TaskerServer(db=c0_db, name="c0", extra_env=dict(
            common, TASKER_HTTP_HOST=ns.net_ns, TASKER_HTTP_PORT=str(http_ports[0]),
            TASKER_CLUSTER_HOST=ns.net_ns, TASKER_CLUSTER_PORT=str(cluster_ports[0]),
            TASKER_COORDINATOR_NAME="c0"))
        c0.binary = wrapper
        # c1's cluster port listens on the service link's address here, which c0 (a
        # standby after the partition) reaches to forward to it, as the workers do.
        c1 = TaskerServer(db=db, name="c1", extra_env=dict(
            common, TASKER_HTTP_PORT=str(http_ports[1]), TASKER_CLUSTER_HOST=ns.net_root,
            TASKER_CLUSTER_PORT=str(cluster_ports[1]), TASKER_COORDINATOR_NAME="c1"))
        c1.binary = binary
        servers += [c0, c1]
        c0.start()
        c1.start()
        check(ready_of(http_ports[0], ns.net_ns)[1].get("role") == "active", "c0 is active")
        check(ready_of(http_ports[1])[1].get("role") == "standby", "c1 stands by")
        join = "%s:%d,%s:%d" % (ns.net_ns, cluster_ports[0], ns.net_root, cluster_ports[1])
        for i in range(2):
            workers.append(Worker(binary, cluster_ports[0], "w%d" % i, secret=faults.SECRET,
                                  slots=8, extra_env={"TASKER_JOIN": join}))
        time.sleep(1.0)
        loader = Loader([(ns.net_ns, http_ports[0]), ("127.0.0.1", http_ports[1])],
                        "partition", ms=20)
        loader.start()
        time.sleep(2.0)
        log("partition after %d acknowledged" % len(loader.acked))
        cut_at = time.monotonic()
        ns.cut()
        active_at = wait_role(http_ports[1], "127.0.0.1", "active", 15)
        check(active_at is not None, "c1 did not become active")
        takeover_s = active_at - cut_at
        log("c1 active %.0f ms after the partition" % (takeover_s * 1000))
        # c0 cannot renew: after two leases it stands down, and its worker nodes move to c1.
        deadline = time.monotonic() + 4 * LEASE_MS / 1000.0 + 20
        stood_down = None
        while time.monotonic() < deadline:
            status, body = ready_of(http_ports[0], ns.net_ns)
            if isinstance(body, dict) and body.get("role") == "standby":
                stood_down = time.monotonic() - cut_at
                break
            time.sleep(0.05)
        check(stood_down is not None, "c0 did not stand down while cut off")
        log("c0 stood down %.0f ms after the partition" % (stood_down * 1000))
        time.sleep(2.0)
        ns.heal()
        healed_at = time.monotonic()
        forwarding = wait_role(http_ports[0], ns.net_ns, "standby", 20)
        check(forwarding is not None, "c0 does not forward to c1 after the heal")
        time.sleep(1.5)
        loader.finish()
        log("acknowledged %d, 503 %d, connection errors %d"
            % (len(loader.acked), loader.unavailable, loader.connection_errors))
        check(not loader.other, "undocumented answers: %s" % loader.other[:5])
        check(loader.missing_retry_after == 0, "503 without Retry-After")
        after = [t for t, _, outcome in loader.timeline
                 if t > active_at + 0.5 and outcome in (200, 202)]
        check(len(after) > 20, "nothing was acknowledged after the takeover")
        ids = list(loader.acked)
        terminal, lost, dupes = faults.verify(db[1], ids, timeout=120,
                                              terminal_logs=[c0, c1])
        # Exactly one terminal event per task, whoever wrote it.
        out = faults.psql_stdin(
            db[1], "SELECT count(*) FROM (SELECT task_id FROM task_events WHERE kind IN "
                   "('completed', 'failed', 'cancelled') AND task_id IN (%s) GROUP BY task_id "
                   "HAVING count(*) <> 1) x;" % (",".join("'%s'" % i for i in ids) or "NULL"))
        check(out.strip() == "0", "tasks with other than one terminal event: %s" % out.strip())
        epoch = psql(db[1], "COPY (SELECT epoch FROM coordinator_leader) TO STDOUT").strip()
        check(epoch == "2", "epoch %s, expected 2 (one takeover)" % epoch)
        check(c0.find_logs("this coordinator stands down: the lease could not be renewed "
                           "for two leases"), "c0 did not log why it stood down")
        faults.report("partition", len(ids), terminal, lost, dupes, 0.0, takeover_s,
                      {"takeover_ms": round(takeover_s * 1000),
                       "stood_down_ms": round(stood_down * 1000),
                       "forwarding_after_heal_ms": round((forwarding - healed_at) * 1000),
                       "unavailable": loader.unavailable,
                       "connection_errors": loader.connection_errors})
        check(takeover_s < TAKEOVER_LIMIT_S, "takeover took %.1f s" % takeover_s)
    finally:
        for w in workers:
            w.stop()
        for s in servers:
            if os.environ.get("TASKER_SYSTEM_LOGS"):
                for _, line, p in s.logs():
                    if p is not None and p.get("level") in ("warning", "error"):
                        print(s.name, line[:400])
            s.close()
        ns.close()
        if pg is not None:
            pg.close()
        subprocess.run(["rm", "-rf", wrapper_dir])


if __name__ == "__main__":
    faults.run(main)
