"""Fleet-wide bans through Redis (ban_share), with the real binary, a real
redis-server on a loopback port and two h2guard instances, A and B:

  - a banned request on A (a rule with a ttl) makes B tear down its live
    connection from that address and drop it at accept;
  - B restarted loads the ban from Redis and still drops the address;
  - with Redis stopped, A keeps serving and banning locally, and queues
    the new ban; once Redis is back (same port), A reconnects and B gets it;
  - a ban removed through A's admin API is removed on B too.

Clients bind their source address (127.0.0.9, 127.0.0.10).  Skips (77)
without redis-server."""

import os
import shutil
import subprocess
import time

import harness
from harness import (H2guard, RawClient, Upstream, check, curl, free_port, log,
                     metrics, need, served, skip, tmpdir, wait_for, wait_port)

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
if not os.access(REDIS, os.X_OK):
    skip("redis-server not found (apt-get install -y redis-server)")
need("curl")
if not harness.has_ban_share():
    skip("h2guard was built without hiredis: it refuses ban_share")


class Redis:
    """A redis-server of our own: loopback, no persistence."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.proc = subprocess.Popen([REDIS, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", tmpdir()],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        harness._procs.append(self.proc)      # killed at exit, even when a check fails
        check(wait_port(self.port, proc=self.proc), "redis-server up on port %d" % self.port)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def start(redis_port):
    return H2guard([up.addr], tls=False, admin=True, extra="kernel_drop off\nban_share redis://127.0.0.1:%d/0\n"
                   "rule trap path prefix /trap ban ttl 1h\n" % redis_port)


def dropped(g, source):
    r = curl(["--interface", source, g.url + "/x"], timeout=5, check_rc=False)
    return r.out == "" and r.returncode != 0


up = Upstream()
redis = Redis()
A = start(redis.port)
B = start(redis.port)
check(wait_for(lambda: metrics(A).get("h2guard_ban_share_connected") == 1 and
               metrics(B).get("h2guard_ban_share_connected") == 1, 10), "A and B connected to Redis")

# ---- a ban on A reaches B: live connection torn down, new ones dropped ------------------
live = RawClient(B.port, source="127.0.0.9", timeout=5)
check(live.get("/live") == (200, b"ok GET /live\n"), "127.0.0.9 served by B over a live h2c connection")
t0 = time.monotonic()
r = curl(["--interface", "127.0.0.9", A.url + "/trap"], timeout=5, check_rc=False)
check(r.out == "" and r.returncode != 0, "A tears down 127.0.0.9's banned request")
n, how = live.recv_raw()
ms = (time.monotonic() - t0) * 1000
log("B tore its live connection from 127.0.0.9 down %.0f ms after A's ban (%s, %d bytes)" % (ms, how, n))
check(how in ("reset", "eof") and n == 0, "B tears down its live connection from 127.0.0.9, writing nothing")
check(dropped(B, "127.0.0.9"), "B drops 127.0.0.9 at accept")
check(served(B, "127.0.0.1"), "B still serves 127.0.0.1")
mb = metrics(B)
check(mb.get("h2guard_ban_share_received_total", 0) >= 1, "B counts the ban it received")
check(mb.get('h2guard_accept_drops_total{reason="banned"}', 0) >= 1, "B counts the accept-time drop")

# ---- B restarted: the ban is loaded from Redis ----------------------------------------
B.stop()
B = start(redis.port)
check(wait_for(lambda: metrics(B).get("h2guard_ban_share_loaded_total", 0) >= 1, 10),
      "B restarted loads the live ban from Redis")
check(dropped(B, "127.0.0.9"), "B restarted still drops 127.0.0.9")

# ---- Redis down: local bans go on, the shared one waits -------------------------------
redis.stop()
check(wait_for(lambda: metrics(A).get("h2guard_ban_share_connected") == 0, 5), "A sees Redis gone")
check(served(A, "127.0.0.1"), "A keeps serving without Redis")
r = curl(["--interface", "127.0.0.10", A.url + "/trap"], timeout=5, check_rc=False)
check(r.out == "" and r.returncode != 0, "A still bans without Redis")
check(dropped(A, "127.0.0.10"), "A drops 127.0.0.10 at accept")
check(served(B, "127.0.0.10"), "B does not know of it yet")
check(metrics(A).get("h2guard_ban_share_queued") == 1, "A queued the ban for Redis")
check("local bans go on" in A.log(), "A logs that Redis is gone")

# ---- Redis back: A reconnects and sends the queued ban --------------------------------
redis = Redis(redis.port)
t0 = time.monotonic()
check(wait_for(lambda: dropped(B, "127.0.0.10"), 15), "B gets the queued ban once Redis is back")
log("queued ban applied on B %.1f s after Redis came back" % (time.monotonic() - t0))
check(metrics(A).get("h2guard_ban_share_queued") == 0, "A's queue is empty")
check("connected again" in A.log(), "A logs the reconnection")

# ---- removal through A's admin API is fleet-wide --------------------------------------
code = curl(["-X", "DELETE", "-o", "/dev/null", "-w", "%{http_code}",
             "http://127.0.0.1:%d/bans?address=127.0.0.9" % A.admin_port], timeout=5).out
check(code == "200", "DELETE /bans on A lifts 127.0.0.9 there (%s)" % code)
check(wait_for(lambda: served(B, "127.0.0.9"), 5), "B serves 127.0.0.9 again")
check(served(A, "127.0.0.9"), "A serves 127.0.0.9 again")

A.stop()
B.stop()
redis.stop()
up.stop()
log("ok")
