#!/usr/bin/python3
"""Benchmark (not part of make check): where the CPU of one proxied request
goes, h2guard against the peer proxies, split into the proxy's user and
system time, the upstream's and h2load's.

  tests/bench/cpu_per_request.py [--rounds N] [--only NAME,...] [--h2c]
                                 [--path PATH] [-- H2LOAD_ARGS...]

Starts each proxy as tests/bench/peers.py does (same configurations, same
upstream; see there), warms it up, runs h2load (default: -n 100000 -c 32
-m 16, TLS h2; --h2c for prior-knowledge clear text) and reads utime and
stime from /proc for the proxy's processes and the upstream, and h2load's
from its rusage, round after round in turn, then prints the medians.
On a 2-core machine client, upstream and proxy share the cores: req/s is
bounded by the sum of the three CPU columns, not by the proxy alone.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default=",".join(peers.PROXIES))
    ap.add_argument("--h2c", action="store_true")
    ap.add_argument("--path", default="/")
    ap.add_argument("h2load", nargs="*", default=["-n", "100000", "-c", "32", "-m", "16"])
    a = ap.parse_args()
    if not 1 <= a.rounds <= 20:
        ap.error("--rounds must be 1..20")
    names = [n for n in a.only.split(",") if n == "h2guard" or peers.find_bin(n)]
    tmp = tempfile.mkdtemp(prefix="h2guard-cpu-")
    os.chmod(tmp, 0o755)
    subprocess.run([os.path.join(peers.TOP, "conf", "gen-demo-cert.sh"), tmp], check=True,
                   stdout=subprocess.DEVNULL)
    up = subprocess.Popen([peers.UPSTREAM_BIN, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                          start_new_session=True)
    peers.LIVE.append(up)
    setup = peers.Setup(tmp, os.path.join(tmp, "demo-cert.pem"), os.path.join(tmp, "demo-key.pem"),
                        int(up.stdout.readline().decode().split()[1]), 4000)
    res = {}
    print("h2load %s on %s, %s; us of CPU per request" % (" ".join(a.h2load), a.path, "h2c" if a.h2c else "TLS h2"))
    print("%-8s %8s %6s %6s %6s %9s %7s" % ("proxy", "req/s", "user", "sys", "proxy", "upstream", "h2load"))
    try:
        for _ in range(a.rounds):
            for n in names:
                p = peers.Proxy(n, setup)
                try:
                    peers.h2load(p, ["-n", "10000", "-c", "8", "-m", "16"], p.url(True), 60)
                    pids = p.pids()
                    u0, s0 = peers.ut_st(pids)
                    q0 = sum(peers.ut_st([up.pid]))
                    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    r = peers.h2load(p, a.h2load, p.url(not a.h2c, a.path), 300)
                    u1, s1 = peers.ut_st(pids)
                    q1 = sum(peers.ut_st([up.pid]))
                    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    if not r["ok"]:
                        print("%-8s failed: %s" % (n, r["why"]))
                        continue
                    k = 1e6 / r["s2xx"]
                    row = (r["rps"], (u1 - u0) * k, (s1 - s0) * k, (u1 - u0 + s1 - s0) * k, (q1 - q0) * k,
                           (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime) * k)
                    res.setdefault(n, []).append(row)
                    print("%-8s %8.0f %6.1f %6.1f %6.1f %9.1f %7.1f" % ((n,) + row), flush=True)
                finally:
                    p.stop()
    finally:
        peers.stop_all()
        subprocess.run(["rm", "-rf", tmp])
    print("medians over %d rounds:" % a.rounds)
    for n, rows in res.items():
        print("%-8s %8.0f %6.1f %6.1f %6.1f %9.1f %7.1f" % ((n,) + tuple(statistics.median(r[i] for r in rows)
                                                                     for i in range(6))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
