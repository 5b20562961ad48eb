"""Exhaustion, with the real binary: out of file descriptors, h2guard stops
accepting instead of spinning on accept() (one log line, next to no CPU),
and serves again once descriptors are given back."""

import os
import resource
import socket
import time

from harness import H2guard, Upstream, check, curl, log, need

need("curl")
up = Upstream()
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# ---- out of file descriptors -------------------------------------------------------
g = H2guard([up.addr], tls=False, extra="first_request_timeout 60s\nlog_level info")
check(curl([g.url + "/before"]).out == "ok GET /before\n", "served before the limit")
pid = g.proc.pid
base = nfds(pid)
# Room for 8 more descriptors: a few client connections, then accept() fails.
resource.prlimit(pid, resource.RLIMIT_NOFILE, (base + 8, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
clients = []
for i in range(40):
    s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
    clients.append(s)
time.sleep(0.5)
c0 = cpu_s(pid)
time.sleep(2.0)
spent = cpu_s(pid) - c0
held = nfds(pid)
text = g.log()
pauses = text.count("not accepting for now")
log("out of descriptors: %d held (limit %d), %.2f s CPU in 2 s, %d pause line(s)" % (held, base + 8, spent, pauses))
check(held <= base + 8, "h2guard holds no more descriptors than its limit (%d)" % held)
check(pauses == 1, "one line says accepting stopped (%d)" % pauses)
check("Too many open files" in text, "the line says why")
check(text.count("accept:") <= 2, "accept() failures are not logged one by one")
check(spent < 0.5, "no busy loop while out of descriptors: %.2f s of CPU in 2 s" % spent)

# Descriptors come back: the queued connections are accepted, new ones served.
for s in clients:
    s.close()
deadline = time.monotonic() + 10
ok = False
while time.monotonic() < deadline and not ok:
    r = curl([g.url + "/after"], timeout=5, check_rc=False)
    ok = r.out == "ok GET /after\n"
    if not ok:
        time.sleep(0.2)
check(ok, "served again once descriptors are free")
check("accepting again after" in g.log(), "a line says accepting works again")
resource.prlimit(pid, resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
g.stop()
up.stop()
log("ok")
