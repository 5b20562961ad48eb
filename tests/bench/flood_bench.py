#!/usr/bin/python3
"""Benchmark (not part of make check): what each flood costs the legitimate
clients, and h2guard.

For every attack of tests/flood/h2flood.py:
  - legitimate throughput: h2load (TLS h2, 8 connections, 10 streams each,
    from 127.0.0.1) for SECONDS without the attack, then for SECONDS with
    the attack running (h2flood.py, 2 connections at a time from
    127.0.0.N, reconnecting after each teardown); the ratio of the two
    (goal: at least 0.8), and the mean request time of each;
  - h2guard's CPU spent on the attack alone: the attack runs SECONDS
    without other load; h2guard's CPU time in that window, as a share of
    one core and per attacking connection.

  tests/bench/flood_bench.py [SECONDS] [RPS] [ATTACK...]

RPS (default 500) is the rate each of h2load's 8 connections offers
(h2load --rps); 0 means as fast as it can.  On a machine of two cores,
h2guard runs pinned to CPU 0 and h2load, the upstream and the Python
attacker share CPU 1: with an unbounded h2load the attacker's own CPU time
is taken from the legitimate client, and the ratio measures that
contention, not h2guard.  A bounded offered load (4,000 req/s, about a
fifth of what h2guard serves here) measures what the attack takes from
legitimate clients through h2guard.  The load comes from one address, so the
request-rate limits that would stop h2load itself (stream_rate, streams,
client_stream_rate) are off here, and the attacks that only they catch are
left out.  send_timeout and header_timeout are 2s (not 60s and 10s) so that
the slow attacks cycle within a phase, and client_conn_rate is 100/10s (not
1000/10s), which the Python attacker (some 30 TLS connections a second)
can cross.  Needs a build in build/ (tests/run-tests.sh) and h2load
(nghttp2-client).  All traffic stays on 127.0.0.0/8; every loop is bounded.
"""

import json
import os
import re
import subprocess
import sys
import time

top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
os.environ.setdefault("H2GUARD_BIN", os.path.join(top, "build", "h2guard"))
os.environ.setdefault("H2GUARD_UPSTREAM", os.path.join(top, "build", "tests", "upstream", "h2guard-upstream"))
sys.path.insert(0, os.path.join(top, "tests", "integration"))

from harness import H2guard, Upstream, cpu_s  # noqa: E402

FLOOD = os.path.join(top, "tests", "flood", "h2flood.py")
# Each attack, and what it takes to cross the default limits.
ATTACKS = {
    "rapid_reset": [], "made_you_reset": [], "ping": [], "settings": [],
    "priority": ["--count", "1500"], "window_update": [], "empty_data": [], "empty_headers": [],
    "zero_length_headers": [], "continuation": [], "header_bytes": ["--set", "size=300000"],
    "hpack_bomb": ["--set", "refs=100"], "header_fields": [], "rst": ["--count", "1500"],
    "slow_read": [], "zero_window": [], "slow_read_http1": [], "slow_headers": [], "slowloris": [],
    "conn_flood": ["--count", "1500", "--set", "hold=0"],
}
SECONDS = max(2.0, min(float(sys.argv[1]), 120.0)) if len(sys.argv) > 1 else 10.0
RPS = int(sys.argv[2]) if len(sys.argv) > 2 else 500
chosen = sys.argv[3:] or ATTACKS


def pin_cpu1():
    os.sched_setaffinity(0, {1})


def ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def legit(seconds):
    """h2load for seconds: returns req/s, how many requests failed, mean request time (ms)."""
    cmd = ["h2load", "-D", str(int(seconds)), "-c", "8", "-m", "10"]
    if RPS > 0:
        cmd.append("--rps=%d" % RPS)
    r = subprocess.run(cmd + [g.tls_url + "/"], capture_output=True, text=True, timeout=seconds + 60,
                       preexec_fn=pin_cpu1)
    rate = re.search(r"finished in [^,]+, ([\d.]+) req/s", r.stdout)
    m = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored", r.stdout)
    t = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", r.stdout)
    if rate is None or m is None or t is None:
        sys.exit("h2load failed:\n" + r.stdout + r.stderr)
    return float(rate.group(1)), int(m.group(2)) + int(m.group(3)), ms(t.group(1), t.group(2))


def attacker(name, source, seconds):
    return subprocess.Popen([sys.executable, FLOOD, name, "--port", str(g.tls_port), "--tls",
                             "--source", source, "--duration", str(seconds), "--conns", "2", "--json"]
                            + ATTACKS[name],
                            stdout=subprocess.PIPE, text=True, preexec_fn=pin_cpu1)


def attack_summary(p):
    out, _ = p.communicate(timeout=SECONDS + 120)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


if len(os.sched_getaffinity(0)) < 2:
    sys.exit("needs two CPUs")
up = Upstream()
g = H2guard([up.addr], extra="\n".join([
    "log_level error", "ban_log off", "send_timeout 2s", "header_timeout 2s",
    "limit client_conn_rate 100/10s",
    "limit stream_rate off", "limit streams off", "limit client_stream_rate off"]))
os.sched_setaffinity(g.proc.pid, {0})
os.sched_setaffinity(up.proc.pid, {1})
print("h2guard on CPU 0; h2load -c 8 -m 10 %s(TLS h2), the upstream and the attacker on CPU 1; "
      "%g s per phase" % ("--rps=%d " % RPS if RPS else "", SECONDS))
legit(2)    # warm up


def phase(fn):
    """Runs fn(); returns its result and h2guard's CPU use meanwhile (% of one core)."""
    c0, t0 = cpu_s(g.proc.pid), time.time()
    r = fn()
    return r, 100.0 * (cpu_s(g.proc.pid) - c0) / (time.time() - t0)


rows = []
for i, name in enumerate(chosen):
    (base, base_failed, base_ms), base_cpu = phase(lambda: legit(SECONDS))
    p = attacker(name, "127.0.0.%d" % (10 + i), SECONDS + 1)
    time.sleep(0.5)
    (during, failed, during_ms), during_cpu = phase(lambda: legit(SECONDS))
    attack_summary(p)
    s, alone_cpu = phase(lambda: attack_summary(attacker(name, "127.0.1.%d" % (10 + i), SECONDS)))
    # Connections closed at accept (client_conn_rate) count as torn down.
    conns = s.get("connections", 0) + s.get("rejected", 0)
    r = {"name": name, "base": base, "during": during, "ratio": during / base if base else 0.0,
         "base_ms": base_ms, "during_ms": during_ms, "failed": failed + base_failed,
         "base_cpu": base_cpu, "during_cpu": during_cpu, "alone_cpu": alone_cpu, "conns": conns,
         "per_conn_us": alone_cpu / 100.0 * SECONDS / conns * 1e6 if conns else 0.0,
         "torn": s.get("torn_down", 0) + s.get("rejected", 0)}
    rows.append(r)
    print("%(name)-20s legit %(base).0f -> %(during).0f req/s (ratio %(ratio).2f), %(base_ms).2f -> "
          "%(during_ms).2f ms, h2guard CPU %(base_cpu).0f%% -> %(during_cpu).0f%%; attack alone: "
          "h2guard CPU %(alone_cpu).1f%%, %(conns)d connections, %(torn)d torn down" % r, flush=True)

print()
print("| attack | legit req/s without | with | ratio | mean ms without | with | failed "
      "| h2guard CPU without | with | attack alone | attacking conns | CPU per conn | torn down |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    print("| %(name)s | %(base).0f | %(during).0f | %(ratio).2f | %(base_ms).2f | %(during_ms).2f | %(failed)d "
          "| %(base_cpu).0f%% | %(during_cpu).0f%% | %(alone_cpu).1f%% | %(conns)d | %(per_conn_us).0f us "
          "| %(torn)d |" % r)
g.stop()
up.stop()
