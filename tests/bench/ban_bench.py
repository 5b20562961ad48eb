#!/usr/bin/python3
"""Benchmark (not part of make check): what bans cost h2guard.

  1. banned connections torn down per second: each new TLS connection does
     the handshake (ALPN h2) and sends one banned request;
  2. accept-time drops per second for a banned address (plain TCP connects);
  3. h2guard's CPU time per ban and per accept-time drop, next to its CPU
     time per ordinary request (h2load, one request per new TLS connection).

  tests/bench/ban_bench.py [CONNECTIONS]

Run from the source tree after a build in build/ (tests/run-tests.sh makes
one).  All traffic stays on 127.0.0.0/8; every loop is bounded.
"""

import os
import socket
import sys
import time

top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
os.environ.setdefault("H2GUARD_BIN", os.path.join(top, "build", "h2guard"))
os.environ.setdefault("H2GUARD_UPSTREAM", os.path.join(top, "build", "tests", "upstream", "h2guard-upstream"))
sys.path.insert(0, os.path.join(top, "tests", "integration"))

from harness import H2guard, RawClient, Upstream  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


up = Upstream()
g = H2guard([up.addr], extra="log_level error\nban_log off\n"
            "rule wp path prefix /wp-login.php ban\n"
            "rule trap path prefix /trap ban ttl 1h\n")
pid = g.proc.pid

# 1. TLS connection + one banned request, N times.
cpu0, t0 = cpu_s(pid), time.time()
resets = 0
for i in range(N):
    c = RawClient(g.tls_port, tls=True, source="127.0.0.3", drain=False)
    c.send_raw_tcp(c.requests(["/wp-login.php"]))
    n, how = c.recv_raw()
    c.close()
    resets += how == "reset"
wall, cpu = time.time() - t0, cpu_s(pid) - cpu0
print("banned TLS h2 connections: %d (%d reset) in %.2f s: %.0f/s (client-bound); "
      "h2guard CPU %.1f us per ban (handshake included)" % (N, resets, wall, N / wall, cpu / N * 1e6))

# 2. Accept-time drops: ban 127.0.0.5, then N * 5 plain connects from it.
c = RawClient(g.port, tls=False, source="127.0.0.5")
c.send_raw_tcp(c.requests(["/trap"]))
c.recv_raw()
M = N * 5
cpu0, t0 = cpu_s(pid), time.time()
for i in range(M):
    s = socket.socket()
    s.bind(("127.0.0.5", 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    try:
        s.connect(("127.0.0.1", g.port))
        s.recv(1)
    except ConnectionResetError:    # the reset may beat connect() itself
        pass
    s.close()
wall, cpu = time.time() - t0, cpu_s(pid) - cpu0
print("accept-time drops of a banned address: %d in %.2f s: %.0f/s (client-bound); h2guard CPU %.1f us per drop"
      % (M, wall, M / wall, cpu / M * 1e6))

# 3. For scale: an ordinary request on its own new TLS connection, N times.
cpu0 = cpu_s(pid)
served = 0
for i in range(N):
    c = RawClient(g.tls_port, tls=True, source="127.0.0.1", drain=False)
    served += c.get("/")[0] == 200
    c.close()
cpu = cpu_s(pid) - cpu0
print("ordinary request on its own new TLS connection: h2guard CPU %.1f us per request (%d served)"
      % (cpu / N * 1e6, served))
g.stop()
up.stop()
