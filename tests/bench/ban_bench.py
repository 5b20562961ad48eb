#!/usr/bin/python3
"""Benchmark (not part of make check): what bans cost h2guard.

  1. ordinary requests, each on its own new TLS h2 connection (h2load):
     h2guard's CPU time per request, for scale;
  2. banned connections torn down per second: each new TLS h2 connection
     sends one banned request (h2load); h2guard's CPU time per ban;
  3. accept-time drops per second once the client address is banned with a
     ttl (h2load, new connections); h2guard's CPU time per drop.

  tests/bench/ban_bench.py [CONNECTIONS] [ROUNDS]

Run from the source tree after a build in build/ (tests/run-tests.sh makes
one); needs h2load (nghttp2-client).  Rates include h2load's own work on the
same two cores.  All traffic stays on 127.0.0.1; every loop is bounded.
"""

import os
import re
import resource
import subprocess
import sys
import time

top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
os.environ.setdefault("H2GUARD_BIN", os.path.join(top, "build", "h2guard"))
os.environ.setdefault("H2GUARD_UPSTREAM", os.path.join(top, "build", "tests", "upstream", "h2guard-upstream"))
sys.path.insert(0, os.path.join(top, "tests", "integration"))

from harness import H2guard, RawClient, Upstream, cpu_s  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
resource.setrlimit(resource.RLIMIT_NOFILE, (N + 4096, N + 4096))


def h2load(url):
    """N new connections at once, one request each; returns (succeeded, failed, seconds)."""
    t0 = time.time()
    r = subprocess.run(["h2load", "-n", str(N), "-c", str(N), "-m", "1", url],
                       capture_output=True, text=True, timeout=300)
    m = re.search(r"(\d+) succeeded, (\d+) failed", r.stdout)
    return int(m.group(1)), int(m.group(2)), time.time() - t0


def measure(label, url, want_ok):
    pid = g.proc.pid
    cpu = wall = 0.0
    done = 0
    for _ in range(ROUNDS):
        c0 = cpu_s(pid)
        ok, failed, secs = h2load(url)
        cpu += cpu_s(pid) - c0
        wall += secs
        done += ok if want_ok else failed
    total = N * ROUNDS
    print("%-52s %6d of %6d in %6.2f s: %7.0f/s, h2guard CPU %6.1f us each"
          % (label, done, total, wall, total / wall, cpu / total * 1e6))


up = Upstream()
# 1000 connections a round from one address: client_conn_rate would close
# most of them at accept, which is not what is measured here.
# kernel_drop off: the accept-time close is measured here; with the kernel's
# drop h2load would wait out its connect timeout (tests/bench/kdrop_bench.py).
g = H2guard([up.addr], extra="log_level error\nban_log off\nkernel_drop off\n"
            "limit client_conn_rate off\nlimit client_stream_rate off\nlimit client_max_connections off\n"
            "upstream_max_connections_per_client 64\n"
            "rule wp path prefix /wp-login.php ban\n"
            "rule trap path prefix /trap ban ttl 1h\n")
print("%d connections per round, %d rounds" % (N, ROUNDS))
measure("ordinary request, each on a new TLS h2 connection:", g.tls_url + "/", True)
measure("banned request, each on a new TLS h2 connection:", g.tls_url + "/wp-login.php", False)
c = RawClient(g.port, tls=False)        # bans 127.0.0.1 for an hour
c.send_raw_tcp(c.requests(["/trap"]))
c.recv_raw()
measure("new connection from a banned address (h2c):", g.url + "/", False)
measure("new connection from a banned address (TLS):", g.tls_url + "/", False)
g.stop()
up.stop()
