#!/usr/bin/python3
"""Soak test (not part of make check): legitimate traffic, every flood of
tests/flood/h2flood.py and banned requests at once, for a bounded time,
against one h2guard.

  tests/soak/soak.py [--duration SECONDS]   (default 180, at most 1800)

Legitimate: h2load from 127.0.0.1, alternately over TLS h2 and h2c, 4
clients at 50 req/s each with 2 streams in flight, plus an HTTP/1.1 curl
request a second.  Attacks, two at a time, each from its own address in
127.0.0.20-127.0.0.99: every attack h2flood.py knows, for 8 s each, round
after round, and banned requests (a ban rule without a ttl, and one with a
20 s ttl whose address is then dropped by the kernel, or at accept).

Every 5 s it samples h2guard's RSS, open descriptors and connections to
the upstream.  It passes when no legitimate request failed, every banned
request was torn down unanswered, RSS grew by less than 10% + 8 MiB from
the first sample after a warm-up (a fifth of the run) to the highest later
one, upstream connections never exceeded upstream_max_connections, and
once the load stopped h2guard held no more descriptors than its listeners,
logs and pooled upstream connections, and exited 0 on SIGTERM.  It prints
the samples, every attack's summary line and the totals.  Traffic goes to 127.0.0.0/8 only; every loop is
bounded in count and in time.  Needs a build in build/ (or $H2GUARD_BIN and
$H2GUARD_UPSTREAM), h2load, curl and python3-h2.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("H2GUARD_BIN", os.path.join(TOP, "build", "h2guard"))
UPSTREAM = os.environ.get("H2GUARD_UPSTREAM", os.path.join(TOP, "build", "tests", "upstream", "h2guard-upstream"))
FLOOD = os.path.join(TOP, "tests", "flood", "h2flood.py")
PY = "/usr/bin/python3"
KEEPALIVE = 8           # upstream_keepalive below
MAXCONN = 64            # upstream_max_connections


def say(*a):
    print(*a, flush=True)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def upstream_conns(port):
    """Established TCP connections to 127.0.0.1:port (h2guard's, to the upstream)."""
    want = "0100007F:%04X" % port
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2] == want and fields[3] == "01":
                n += 1
    return n


def attacks():
    out = subprocess.run([PY, FLOOD, "--help"], capture_output=True, text=True).stdout
    names = re.findall(r"^  ([a-z_0-9]+)\s{2,}", out.split("attacks:", 1)[1], re.M)
    return [n for n in names if n not in ("client_streams", "conn_flood")] + ["client_streams", "conn_flood"]


class Soak:
    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.legit = {"requests": 0, "failed": 0, "runs": 0, "curl": 0, "curl_failed": 0, "why": []}
        self.attack_runs = []
        self.bans = {"sent": 0, "torn_down": 0, "why": []}

    # ---- processes ----
    def start(self):
        subprocess.run([os.path.join(TOP, "conf", "gen-demo-cert.sh"), self.tmp], check=True,
                       stdout=subprocess.DEVNULL)
        self.up = subprocess.Popen([UPSTREAM, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)
        self.up_port = int(self.up.stdout.readline().decode().split()[1])
        self.port, self.tls_port = free_port(), free_port()
        conf = os.path.join(self.tmp, "h2guard.conf")
        with open(conf, "w") as f:
            f.write("""listen 127.0.0.1:{p}
listen 127.0.0.1:{t} tls
tls_certificate {d}/demo-cert.pem
tls_certificate_key {d}/demo-key.pem
upstream 127.0.0.1:{u}
upstream_keepalive {k}
upstream_max_connections {m}
log_level warn
ban_log {d}/ban.log
rule wp path prefix /wp-login.php ban
rule sqlmap header user-agent regex "(?i)sqlmap" ban ttl 20s
""".format(p=self.port, t=self.tls_port, d=self.tmp, u=self.up_port, k=KEEPALIVE, m=MAXCONN))
        self.log = open(os.path.join(self.tmp, "h2guard.log"), "wb")
        self.g = subprocess.Popen([BIN, "-c", conf], stdout=self.log, stderr=self.log)
        import socket
        end = time.monotonic() + 10
        while time.monotonic() < end:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.tls_port)) == 0:
                    return
            time.sleep(0.05)
        sys.exit("h2guard did not start")

    def finish(self):
        for p in (self.g, self.up):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.log.close()
        return self.g.returncode

    # ---- legitimate traffic ----
    def h2load_loop(self):
        tls = True
        while not self.stop.is_set():
            url = ("https://127.0.0.1:%d/" if tls else "http://127.0.0.1:%d/") % (self.tls_port if tls else self.port)
            tls = not tls
            try:
                out = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "2", "--rps", "50", url],
                                     capture_output=True, text=True, timeout=60).stdout
            except subprocess.TimeoutExpired:
                with self.lock:
                    self.legit["failed"] += 1
                    self.legit["why"].append("h2load did not finish in 60 s")
                continue
            m = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
                          r"(\d+) errored, (\d+) timeout", out)
            st = re.search(r"status codes: (\d+) 2xx", out)
            with self.lock:
                self.legit["runs"] += 1
                if not m or not st:
                    self.legit["failed"] += 1
                    self.legit["why"].append("h2load: " + " ".join(out.split())[-200:])
                    continue
                total, ok, ok2xx = int(m.group(1)), int(m.group(2)), int(st.group(1))
                self.legit["requests"] += total
                if ok2xx != total:
                    self.legit["failed"] += total - ok2xx
                    self.legit["why"].append("h2load %s: %d of %d not 2xx" % (url, total - ok2xx, total))

    def curl_loop(self):
        i = 0
        while not self.stop.wait(1.0):
            i += 1
            r = subprocess.run(["curl", "-sS", "--max-time", "10", "http://127.0.0.1:%d/legit%d" % (self.port, i)],
                               capture_output=True, text=True)
            with self.lock:
                self.legit["curl"] += 1
                if r.stdout != "ok GET /legit%d\n" % i:
                    self.legit["curl_failed"] += 1
                    self.legit["why"].append("curl /legit%d: %r %r" % (i, r.stdout[:80], r.stderr[:80]))

    # ---- attacks ----
    def attack_loop(self, slot, names):
        k = 0
        while not self.stop.is_set():
            name = names[(k * 2 + slot) % len(names)]
            src = "127.0.0.%d" % (20 + (k * 2 + slot) % 80)
            k += 1
            tls = k % 2 == 0 and name not in ("slowloris",)
            cmd = [PY, FLOOD, name, "--port", str(self.tls_port if tls else self.port), "--source", src,
                   "--duration", "8", "--json"] + (["--tls"] if tls else [])
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
                line = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr.strip()[-200:]
            except subprocess.TimeoutExpired:
                line = "timeout"
            with self.lock:
                self.attack_runs.append((name, src, "tls" if tls else "h2c", line))

    def ban_loop(self):
        i = 0
        while not self.stop.wait(0.5):
            i += 1
            src = "127.0.0.%d" % (100 + i % 50)
            if i % 2:
                args = ["http://127.0.0.1:%d/wp-login.php" % self.port]
            else:
                args = ["-A", "sqlmap/1.0", "http://127.0.0.1:%d/x" % self.port]
            r = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "--max-time", "5", "--interface", src]
                               + args, capture_output=True, text=True)
            with self.lock:
                self.bans["sent"] += 1
                # Torn down (or dropped: by the kernel, curl times out), never answered.
                if r.returncode != 0 and r.stdout == "":
                    self.bans["torn_down"] += 1
                else:
                    self.bans["why"].append("%s %s: answered %r" % (src, args[-1], r.stdout[:60]))

    def run(self):
        names = attacks()
        say("soak: %d s, h2guard pid %d, %d attacks: %s" % (self.args.duration, self.g.pid, len(names),
                                                          " ".join(names)))
        threads = [threading.Thread(target=self.h2load_loop), threading.Thread(target=self.curl_loop),
                   threading.Thread(target=self.ban_loop)]
        threads += [threading.Thread(target=self.attack_loop, args=(s, names)) for s in (0, 1)]
        for t in threads:
            t.daemon = True
            t.start()
        samples = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < self.args.duration:
            time.sleep(5)
            if self.g.poll() is not None:
                say("h2guard exited: %s" % self.g.returncode)
                break
            s = (time.monotonic() - t0, rss_kib(self.g.pid), nfds(self.g.pid), upstream_conns(self.up_port))
            samples.append(s)
            say("  t=%4.0f s  RSS %6d KiB  fds %4d  upstream conns %3d" % s)
        self.stop.set()
        for t in threads:
            t.join(90)
        time.sleep(3)       # attack connections closed, upstream keep-alive settles
        after = (nfds(self.g.pid), upstream_conns(self.up_port)) if self.g.poll() is None else (-1, -1)
        return samples, after


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=180, help="seconds (default 180, at most 1800)")
    args = ap.parse_args()
    if not 30 <= args.duration <= 1800:
        ap.error("--duration must be 30..1800")
    for path in (BIN, UPSTREAM):
        if not os.access(path, os.X_OK):
            sys.exit("%s missing: build first (tests/run-tests.sh)" % path)
    for tool in ("h2load", "curl"):
        if not shutil.which(tool):
            sys.exit("%s missing" % tool)
    tmp = tempfile.mkdtemp(prefix="h2guard-soak-")
    soak = Soak(args, tmp)
    problems = []
    try:
        soak.start()
        samples, after = soak.run()
        rc = soak.finish()
    finally:
        for p in (getattr(soak, "g", None), getattr(soak, "up", None)):
            if p is not None and p.poll() is None:
                p.kill()
    lg = soak.legit
    say("legitimate: %d h2load runs, %d requests, %d failed; %d curl requests, %d failed" %
        (lg["runs"], lg["requests"], lg["failed"], lg["curl"], lg["curl_failed"]))
    for w in lg["why"][:5]:
        say("  " + w)
    if lg["failed"] or lg["curl_failed"] or lg["runs"] == 0:
        problems.append("legitimate requests failed")
    torn = 0
    for _, _, _, line in soak.attack_runs:
        m = re.search(r'"torn_down": (\d+), "rejected": (\d+)', line)
        torn += int(m.group(1)) + int(m.group(2)) if m else 0
    say("attacks: %d runs, %d attacking connections torn down or rejected" % (len(soak.attack_runs), torn))
    for name, src, proto, line in soak.attack_runs:
        say("  %-30s %-12s %-4s %s" % (name, src, proto, line[:150]))
    say("banned requests: %d sent, %d torn down unanswered" % (soak.bans["sent"], soak.bans["torn_down"]))
    for w in soak.bans["why"][:5]:
        say("  " + w)
    if soak.bans["torn_down"] != soak.bans["sent"]:
        problems.append("banned requests answered")
    warm = [s for s in samples if s[0] >= args.duration / 5]
    if len(warm) >= 2:
        r0, r1 = warm[0][1], max(s[1] for s in warm[1:])
        say("RSS after warm-up %d KiB, highest later %d KiB (%+.1f%%)" % (r0, r1, 100.0 * (r1 - r0) / r0))
        if r1 > r0 * 1.10 + 8192:
            problems.append("RSS grew from %d to %d KiB" % (r0, r1))
        up_max = max(s[3] for s in samples)
        if up_max > MAXCONN:
            problems.append("%d upstream connections (max %d)" % (up_max, MAXCONN))
    else:
        problems.append("too few samples")
    fds_end, up_end = after
    say("after the load: %d descriptors, %d upstream connections" % (fds_end, up_end))
    if fds_end < 0 or fds_end > 30 + KEEPALIVE:
        problems.append("descriptors left open after the load: %d" % fds_end)
    if up_end > KEEPALIVE:
        problems.append("upstream connections left after the load: %d (keepalive %d)" % (up_end, KEEPALIVE))
    if rc != 0:
        problems.append("h2guard exited %s" % rc)
    shutil.rmtree(tmp, ignore_errors=True)
    if problems:
        say("FAIL: " + "; ".join(problems))
        return 1
    say("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
