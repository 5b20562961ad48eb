#!/usr/bin/python3
"""Benchmark (not part of make check): what a banned address that keeps
reconnecting costs the proxy, three ways, in the same run, alternating:

  kernel   h2guard, kernel_drop on: the kernel drops the SYN;
  accept   h2guard, kernel_drop off: accept(), then close() at once;
  haproxy  HAProxy, tcp-request connection reject if { src 127.0.0.2 }.

Each round sends ATTEMPTS connection attempts from 127.0.0.2 to each proxy
(one worker / thread each): a non-blocking connect(), then close() with
SO_LINGER 0 (so that 100,000 attempts leave no TIME_WAIT to run out of ports;
on loopback the handshake, when answered, completes inside connect()).
Printed per proxy: the proxy's CPU time (user + system, from /proc) per
100,000 attempts; the handshakes the kernel completed (Tcp PassiveOpens);
the whole machine's busy CPU time over the round, per 100,000 attempts (the
client's loop included, and the kernel's work on both sides: on loopback
the sender's system call runs the receiver's TCP processing).

  tests/bench/kdrop_bench.py [ATTEMPTS] [ROUNDS]      (100000 3)

Run as root from the source tree after a build in build/; needs haproxy
(apt-get install -y haproxy; skipped without it).  All traffic stays on
127.0.0.0/8; every loop is bounded in count and time.
"""

import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time

top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
os.environ.setdefault("H2GUARD_BIN", os.path.join(top, "build", "h2guard"))
os.environ.setdefault("H2GUARD_UPSTREAM", os.path.join(top, "build", "tests", "upstream", "h2guard-upstream"))
sys.path.insert(0, os.path.join(top, "tests", "integration"))

from harness import (TICK, H2guard, Upstream, admin, cpu_s, free_port, metrics, tmpdir,  # noqa: E402
                     wait_port)

ATTEMPTS = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
BANNED = "127.0.0.2"
LINGER0 = struct.pack("ii", 1, 0)


def busy_s():
    """The machine's busy CPU time so far (all CPUs), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / TICK       # less idle and iowait


def passive_opens():
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Tcp:")]
    return int(rows[1][rows[0].index("PassiveOpens")])


def attack(port):
    """ATTEMPTS connection attempts from BANNED (60 s at most)."""
    deadline = time.monotonic() + 60
    n = 0
    while n < ATTEMPTS and time.monotonic() < deadline:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
        s.bind((BANNED, 0))
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except (BlockingIOError, ConnectionError):
            pass
        s.close()
        n += 1
    return n


def haproxy(up_addr):
    exe = shutil.which("haproxy", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if exe is None:
        return None, None
    port = free_port()
    path = os.path.join(tmpdir(), "haproxy.cfg")
    with open(path, "w") as f:
        f.write("""global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:%d
    tcp-request connection reject if { src %s }
    default_backend be
backend be
    server up %s
""" % (port, BANNED, up_addr))
    p = subprocess.Popen([exe, "-db", "-f", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_port(port, proc=p):
        p.kill()
        return None, None
    return p, port


up = Upstream()
ban = "workers 1\nban_log off\nlog_level warn\n"
kern = H2guard([up.addr], tls=False, admin=True, extra=ban + "kernel_drop on\n")
acc = H2guard([up.addr], tls=False, admin=True, extra=ban + "kernel_drop off\n")
for g in (kern, acc):
    if admin(g, "POST", "/bans?address=%s&ttl=1h" % BANNED)[0] != 200:
        sys.exit("cannot ban %s through the admin API" % BANNED)
hp, hp_port = haproxy(up.addr)
peers = [("kernel", kern.proc.pid, kern.port), ("accept", acc.proc.pid, acc.port)]
if hp is not None:
    peers.append(("haproxy", hp.pid, hp_port))
else:
    print("haproxy: not found or did not start; skipped")

res = {name: [] for name, _, _ in peers}
for rnd in range(ROUNDS):
    order = peers[rnd % len(peers):] + peers[:rnd % len(peers)]
    for name, pid, port in order:
        c0, b0, p0, t0 = cpu_s(pid), busy_s(), passive_opens(), time.monotonic()
        n = attack(port)
        time.sleep(0.5)          # the proxy closes what it accepted
        c1, b1, p1, t1 = cpu_s(pid), busy_s(), passive_opens(), time.monotonic()
        k = 100000.0 / n
        res[name].append(((c1 - c0) * k, (b1 - b0) * k, p1 - p0, n))
        print("round %d/%d  %-8s %6d attempts in %5.2f s: proxy CPU %6.3f s per 100k, "
              "machine busy %6.3f s per 100k, handshakes completed %6d" %
              (rnd + 1, ROUNDS, name, n, t1 - t0 - 0.5, (c1 - c0) * k, (b1 - b0) * k, p1 - p0))
        sys.stdout.flush()

m = metrics(kern)
print("\nh2guard kernel_drop on: h2guard_kernel_drops_total %d, connections accepted %d" %
      (m["h2guard_kernel_drops_total"], m["h2guard_connections_accepted_total"]))
m = metrics(acc)
print("h2guard kernel_drop off: accept_drops_total{reason=\"banned\"} %d" %
      m['h2guard_accept_drops_total{reason="banned"}'])
print("\nmedians over %d rounds, per 100,000 connection attempts from a banned address:" % ROUNDS)
print("%-8s %16s %18s %22s" % ("proxy", "proxy CPU (s)", "machine busy (s)", "handshakes completed"))
med = {}
for name, _, _ in peers:
    cpu = statistics.median(r[0] for r in res[name])
    busy = statistics.median(r[1] for r in res[name])
    hs = statistics.median(r[2] * 100000.0 / r[3] for r in res[name])
    med[name] = (cpu, busy)
    print("%-8s %16.3f %18.3f %22d" % (name, cpu, busy, hs))
for name in ("accept", "haproxy"):
    if name in med:
        print("kernel drop vs %-8s proxy CPU %s, machine busy %.2fx less" % (
            name, "%.0fx less" % (med[name][0] / med["kernel"][0]) if med["kernel"][0] > 0
            else "%.3f s vs 0 (below the clock tick)" % med[name][0], med[name][1] / med["kernel"][1]))
kern.stop()
acc.stop()
if hp is not None:
    hp.terminate()
    hp.wait(10)
up.stop()
