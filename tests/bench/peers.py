#!/usr/bin/python3
"""Benchmark (not part of make check): h2guard against peer proxies.

Starts h2guard and the reverse proxies Debian ships - nghttpx
(nghttp2-proxy), HAProxy (haproxy), nginx (nginx-light), h2o (h2o) - with
equivalent configurations in front of the same upstream
(build/tests/upstream/h2guard-upstream), measures them one after the other,
round after round, and prints each figure and h2guard's ratio to each peer.

  tests/bench/peers.py [--rounds N] [--quick] [--only NAME,...]
                       [--skip MEASURE,...] [--keep]

Every proxy: one worker (process or thread; two in the "workers" measure),
a TLS listener (ALPN h2, http/1.1) and a clear-text listener taking h2c with
prior knowledge, no access log, errors only in its error log, HTTP/1.1 with
keep-alive to the upstream, enough file descriptors and connections for
2,000 clients (h2o 2.2 keeps its private key in a helper process,
neverbleed, which cannot be turned off: it is counted with h2o, as are all
the processes of a proxy).  h2guard runs with `limit stream_rate off`,
`limit streams off`, `limit client_stream_rate off`, `limit
client_conn_rate off`, `limit client_max_connections off`,
`upstream_max_connections_per_client 64` (all the load comes from
127.0.0.1, which its flood limits and its per-client share of the
upstream pool would otherwise stop: the peers have no such limits),
`ban_log off`, `log_level error`, and its defaults otherwise (at most 64
connections to an upstream server).  The
certificate is conf/gen-demo-cert.sh's (EC P-256).

Measures (names for --skip), all on 127.0.0.1, each load bounded in count
and in time:

  small      h2load -c 32 -m 16 on "/" (a small response): req/s, TLS h2
             and h2c
  c1000      h2load -c 1000 -m 1 on "/", TLS h2: req/s
  bytes      h2load -c 8 -m 4 on /bytes/1048576 (1 MiB), TLS h2: MiB/s of
             response bodies
  latency    h2load -c 16 -m 1 --rps 125 (2,000 req/s, a moderate load),
             TLS h2: p50 and p99 of the request times h2load logs per
             request (--log-file)
  memory     2,000 idle TLS HTTP/2 connections (this script's own asyncio
             client: TLS with ALPN h2, preface, SETTINGS, one GET, its
             response read, then the connection left open): the proxy's RSS
             (VmRSS summed over all its processes) after minus before,
             divided by 2,000, in KiB per connection
  handshake  new TLS connections: two `openssl s_time` clients at once for
             a fixed time, full handshakes (`-new`, TLS 1.3) and resumed
             ones (`-reuse`, TLS 1.2: s_time takes its session before the
             TLS 1.3 ticket arrives, so it cannot resume TLS 1.3).  The
             clients do more work per handshake than the server (ECDSA
             verify against sign), so the rate they reach says more about
             them than about the proxy; the figure is the proxy's own
             capacity: handshakes per second of the proxy's CPU time
             (utime + stime of all its processes).  The rate reached is
             printed too.
  workers    h2load -c 32 -m 16 on "/", TLS h2, with 1 then 2 workers
             (h2guard `workers 2`, nghttpx --workers=2, HAProxy nbthread 2,
             nginx worker_processes 2, h2o num-threads 2): req/s with 2
             and the scaling over 1.  On a 2-core machine h2load and the
             upstream compete with the proxy for the cores: scaling stays
             well under 2.

Each measure of each round starts each proxy afresh on free ports, waits
for it, checks that it answers on both listeners (a listener that does not
answer is reported and its cells skipped), warms it up, measures, and stops
it.  Round r runs every measure over every proxy, in turn; the final table
gives the median over the rounds and h2guard's ratio to each peer, so that
a ratio above 1 always means h2guard did better (for memory and latency,
where less is better, the ratio is peer / h2guard).  Each h2load line also
shows the proxy's CPU use during the load (100% = one core): a proxy below
100% with one worker was not the bottleneck (the client or the upstream
was).  The upstream is one libevent thread; on this 2-core machine it and
h2load share the cores with the proxy.

Needs a build in build/ (or $H2GUARD_BIN and $H2GUARD_UPSTREAM), h2load
(nghttp2-client), openssl and python3-h2; a missing peer is skipped with the
apt-get line that installs it.  The script installs nothing, and uses no
system service (it starts each proxy itself with its own configuration in a
temporary directory, removed at the end unless --keep).
"""

import argparse
import asyncio
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
H2GUARD_BIN = os.environ.get("H2GUARD_BIN", os.path.join(TOP, "build", "h2guard"))
UPSTREAM_BIN = os.environ.get("H2GUARD_UPSTREAM",
                              os.path.join(TOP, "build", "tests", "upstream", "h2guard-upstream"))
TICK = os.sysconf("SC_CLK_TCK")
PROXIES = ["h2guard", "nghttpx", "haproxy", "nginx", "h2o"]
PACKAGES = {"nghttpx": "nghttp2-proxy", "haproxy": "haproxy", "nginx": "nginx-light", "h2o": "h2o"}
MEASURES = ["small", "c1000", "bytes", "latency", "memory", "handshake", "workers"]
MIB = 1024 * 1024

# Figures: (key, measure, label, unit, whether higher is better).
FIGURES = [
    ("small_tls", "small", "TLS h2 -c 32 -m 16", "req/s", True),
    ("small_h2c", "small", "h2c -c 32 -m 16", "req/s", True),
    ("c1000", "c1000", "TLS h2 -c 1000 -m 1", "req/s", True),
    ("bytes", "bytes", "1 MiB responses -c 8 -m 4", "MiB/s", True),
    ("lat_p50", "latency", "latency p50 @2000 req/s", "ms", False),
    ("lat_p99", "latency", "latency p99 @2000 req/s", "ms", False),
    ("mem", "memory", "memory per idle TLS h2 conn", "KiB", False),
    ("hs_full", "handshake", "full TLS 1.3 handshakes/CPU-s", "/s", True),
    ("hs_full_rate", "handshake", "  (rate reached by 2 clients)", "/s", True),
    ("hs_resumed", "handshake", "resumed TLS 1.2 handshakes/CPU-s", "/s", True),
    ("hs_resumed_rate", "handshake", "  (rate reached by 2 clients)", "/s", True),
    ("w2", "workers", "2 workers TLS h2 -c 32 -m 16", "req/s", True),
    ("w2_scale", "workers", "  scaling 2 workers / 1", "x", True),
]

LIVE = []       # the proxies and the upstream, each the leader of its own process group


def say(*args):
    print(*args, flush=True)


def find_bin(name):
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/local/sbin"
    return shutil.which(name, path=path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(cmd, log, env=None):
    with open(log, "ab") as f:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                             start_new_session=True, env=env)
    LIVE.append(p)
    return p


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def stop(p, grace=3.0):
    """Stops the process group p leads (SIGTERM, then SIGKILL after grace seconds)."""
    if p in LIVE:
        LIVE.remove(p)
    if p.poll() is None or group_alive(p.pid):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        if group_alive(p.pid):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        say("warning: process %d did not exit after SIGKILL" % p.pid)


def stop_all():
    for p in list(LIVE):
        stop(p, grace=1.0)


def group_pids(pgid):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.append(int(d))
    return pids


def ut_st(pids):
    """User and system CPU seconds of pids so far (those gone count 0)."""
    u = s = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            u += int(fields[11])
            s += int(fields[12])
        except OSError:
            pass
    return u / TICK, s / TICK


def cpu_s(pids):
    return sum(ut_st(pids))


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# ---- the proxies ------------------------------------------------------------

class Setup:
    """What every proxy configuration is made from."""

    def __init__(self, tmp, cert, key, upstream_port, maxconn):
        self.tmp, self.cert, self.key = tmp, cert, key
        self.up = upstream_port
        self.maxconn = maxconn
        self.combined = os.path.join(tmp, "cert+key.pem")     # HAProxy wants both in one file
        with open(self.combined, "w") as out:
            for path in (cert, key):
                with open(path) as f:
                    out.write(f.read())
        os.chmod(self.combined, 0o600)


def conf_h2guard(s, d, tls, plain, workers):
    path = os.path.join(d, "h2guard.conf")
    with open(path, "w") as f:
        f.write("""listen 127.0.0.1:{tls} tls
listen 127.0.0.1:{plain}
tls_certificate {cert}
tls_certificate_key {key}
upstream 127.0.0.1:{up}
workers {workers}
log_level error
ban_log off
# All the load comes from 127.0.0.1: the limits that would stop it as a flood
# (the peers have none) are off.
limit stream_rate off
limit streams off
limit client_stream_rate off
limit client_conn_rate off
limit client_max_connections off
upstream_max_connections_per_client 64
""".format(tls=tls, plain=plain, cert=s.cert, key=s.key, up=s.up, workers=workers))
    return [H2GUARD_BIN, "-c", path]


def conf_nghttpx(s, d, tls, plain, workers):
    return [find_bin("nghttpx"), "--conf=/dev/null", "--workers=%d" % workers,
            "--frontend=127.0.0.1,%d" % tls, "--frontend=127.0.0.1,%d;no-tls" % plain,
            "--backend=127.0.0.1,%d" % s.up, "--backend-keep-alive-timeout=60s",
            "--worker-frontend-connections=%d" % s.maxconn, "--rlimit-nofile=%d" % (2 * s.maxconn + 100),
            "--no-ocsp", "--log-level=ERROR", "--errorlog-file=" + os.path.join(d, "error.log"),
            s.key, s.cert]


def conf_haproxy(s, d, tls, plain, workers):
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write("""global
    nbthread {workers}
    maxconn {maxconn}
    # no "log" line: nothing is logged
defaults
    mode http
    maxconn {maxconn}
    timeout connect 5s
    timeout client 75s
    timeout http-keep-alive 75s
    timeout server 60s
    http-reuse always
frontend fe
    bind 127.0.0.1:{tls} ssl crt {combined} alpn h2,http/1.1
    bind 127.0.0.1:{plain} proto h2
    default_backend be
backend be
    server up 127.0.0.1:{up}
""".format(workers=workers, maxconn=s.maxconn, tls=tls, plain=plain, combined=s.combined, up=s.up))
    return [find_bin("haproxy"), "-db", "-f", path]


def conf_nginx(s, d, tls, plain, workers):
    path = os.path.join(d, "nginx.conf")
    for sub in ("body", "proxy"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    with open(path, "w") as f:
        f.write("""{user}
worker_processes {workers};
worker_rlimit_nofile {nofile};
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections {maxconn}; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    keepalive_timeout 75s;
    keepalive_requests 100000000;
    upstream up {{
        server 127.0.0.1:{up};
        keepalive 1024;
        keepalive_requests 100000000;
        keepalive_timeout 60s;
    }}
    ssl_session_cache shared:SSL:10m;
    server {{
        listen 127.0.0.1:{tls} ssl http2 reuseport;
        listen 127.0.0.1:{plain} http2 reuseport;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;
        }}
    }}
}}
""".format(user="user root;" if os.geteuid() == 0 else "", workers=workers, nofile=2 * s.maxconn + 100,
           d=d, maxconn=s.maxconn, up=s.up, tls=tls, plain=plain, cert=s.cert, key=s.key))
    return [find_bin("nginx"), "-p", d, "-e", os.path.join(d, "error.log"), "-c", path]


def conf_h2o(s, d, tls, plain, workers):
    path = os.path.join(d, "h2o.conf")
    with open(path, "w") as f:
        f.write("""{user}
num-threads: {workers}
max-connections: {maxconn}
pid-file: {d}/h2o.pid
error-log: {d}/error.log
http2-idle-timeout: 75
proxy.timeout.keepalive: 60000
listen:
  host: 127.0.0.1
  port: {tls}
  ssl:
    certificate-file: {cert}
    key-file: {key}
    ocsp-update-interval: 0
listen:
  host: 127.0.0.1
  port: {plain}
hosts:
  "127.0.0.1":
    paths:
      "/":
        proxy.reverse.url: http://127.0.0.1:{up}/
""".format(user="user: root" if os.geteuid() == 0 else "", workers=workers, maxconn=s.maxconn, d=d,
           tls=tls, plain=plain, cert=s.cert, key=s.key, up=s.up))
    return [find_bin("h2o"), "-c", path]


CONF = {"h2guard": conf_h2guard, "nghttpx": conf_nghttpx, "haproxy": conf_haproxy,
        "nginx": conf_nginx, "h2o": conf_h2o}


class Proxy:
    """One running proxy: started on free ports, checked, stopped."""

    def __init__(self, name, setup, workers=1):
        self.name = name
        self.workers = workers
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=setup.tmp)
        self.tls, self.plain = free_port(), free_port()
        while self.plain == self.tls:
            self.plain = free_port()
        self.log = os.path.join(self.dir, "output.log")
        self.h2c = False
        cmd = CONF[name](setup, self.dir, self.tls, self.plain, workers)
        self.proc = spawn(cmd, self.log)
        try:
            self._wait()
        except Exception:
            stop(self.proc)
            raise

    def _wait(self, timeout=10.0):
        end = time.monotonic() + timeout
        ports = {self.tls, self.plain}
        while ports:
            if self.proc.poll() is not None:
                raise RuntimeError("exited with status %s: %s" % (self.proc.returncode, self.tail()))
            if time.monotonic() > end:
                raise RuntimeError("not listening after %.0f s: %s" % (timeout, self.tail()))
            for port in list(ports):
                with socket.socket() as c:
                    if c.connect_ex(("127.0.0.1", port)) == 0:
                        ports.discard(port)
            time.sleep(0.05)
        r = h2load(self, ["-n", "4", "-c", "1"], self.url(True), timeout=15)
        if not r["ok"]:
            raise RuntimeError("TLS listener does not serve h2: %s; %s" % (r["why"], self.tail()))
        r = h2load(self, ["-n", "4", "-c", "1"], self.url(False), timeout=15)
        self.h2c = r["ok"]
        self.h2c_why = r["why"]

    def url(self, tls, path="/"):
        if tls:
            return "https://127.0.0.1:%d%s" % (self.tls, path)
        return "http://127.0.0.1:%d%s" % (self.plain, path)

    def pids(self):
        return group_pids(self.proc.pid)

    def alive(self):
        return self.proc.poll() is None

    def tail(self, n=600):
        text = ""
        for name in ("output.log", "error.log"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        text = " ".join(text.split())
        return text[-n:] if text else "(no output)"

    def stop(self):
        stop(self.proc)


# ---- clients -----------------------------------------------------------------

def h2load(proxy, args, url, timeout, log_file=None):
    """Runs h2load against url; returns a dict: ok, why, rps (2xx per second),
    secs, counts, proto, cpu (the proxy's CPU use during the run, 1.0 = one core)."""
    cmd = ["h2load"] + args + (["--log-file=" + log_file] if log_file else []) + [url]
    pids = proxy.pids()
    c0, t0 = cpu_s(pids), time.monotonic()
    try:
        out = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=timeout).stdout.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return {"ok": False, "why": "h2load did not finish within %d s (killed)" % timeout}
    wall = time.monotonic() - t0
    cpu = (cpu_s(pids) - c0) / wall if wall > 0 else 0.0
    r = {"ok": False, "cpu": cpu, "out": out}
    m = re.search(r"finished in ([\d.]+)(s|ms|us),", out)
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                    r"(\d+) errored, (\d+) timeout", out)
    st = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    proto = re.search(r"Application protocol: (\S+)", out)
    if not (m and req and st):
        r["why"] = "unexpected h2load output: " + " ".join(out.split())[-300:]
        return r
    secs = float(m.group(1)) / {"s": 1, "ms": 1e3, "us": 1e6}[m.group(2)]
    total, _, done, ok, failed, errored, tmo = (int(x) for x in req.groups())
    s2xx = int(st.group(1))
    r.update(secs=secs, total=total, succeeded=ok, failed=failed, errored=errored, timeouts=tmo,
             s2xx=s2xx, proto=proto.group(1) if proto else "?", rps=s2xx / secs if secs > 0 else 0.0)
    want = "h2" if url.startswith("https:") else "h2c"
    problems = []
    if r["proto"] != want:
        problems.append("protocol %s, not %s" % (r["proto"], want))
    if s2xx != total:
        problems.append("%d of %d requests not 2xx (%d failed, %d errored, %d timeout, 2xx %d)"
                        % (total - s2xx, total, failed, errored, tmo, s2xx))
    r["ok"] = not problems
    r["why"] = "; ".join(problems)
    return r


def s_time(proxy, mode, seconds, clients=2):
    """openssl s_time clients at once against the TLS port: mode "new" (full
    TLS 1.3 handshakes) or "reuse" (resumed TLS 1.2 sessions)."""
    cmd = ["openssl", "s_time", "-connect", "127.0.0.1:%d" % proxy.tls, "-" + mode, "-time", str(seconds)]
    if mode == "reuse":
        cmd.append("-tls1_2")
    pids = proxy.pids()
    c0, t0 = cpu_s(pids), time.monotonic()
    procs = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for _ in range(clients)]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=seconds + 30)[0].decode(errors="replace"))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.monotonic() - t0
    cpu = cpu_s(pids) - c0
    conns, marks, reused = 0, 0, 0
    for out in outs:
        found = re.findall(r"(\d+) connections in [\d.]+s;", out)
        if not found:
            return {"ok": False, "why": "unexpected s_time output: " + " ".join(out.split())[-300:]}
        conns += int(found[-1])
        last = out.rsplit("starting", 1)[-1]
        marks += last.count("*") + last.count("r")
        reused += last.count("r")
    r = {"ok": conns > 0 and cpu > 0, "conns": conns, "rate": conns / wall, "cpu": cpu / wall,
         "per_cpu_s": conns / cpu if cpu > 0 else 0.0, "reused": reused / marks if marks else 0.0}
    r["why"] = "" if r["ok"] else "no connection or no CPU time measured"
    if mode == "reuse" and r["reused"] < 0.9:
        r["ok"] = False
        r["why"] = "only %.0f%% of the sessions were resumed" % (100 * r["reused"])
    return r


async def _idle_conns(port, n, parallel=64):
    """Opens n TLS HTTP/2 connections, each with one GET / answered, and keeps them."""
    import h2.config
    import h2.connection
    import h2.events

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    sem = asyncio.Semaphore(parallel)
    kept, errors = [], []

    async def one():
        async with sem:
            w = None
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(
                    "127.0.0.1", port, ssl=ctx, server_hostname="localhost"), 15)
                alpn = w.get_extra_info("ssl_object").selected_alpn_protocol()
                if alpn != "h2":
                    raise RuntimeError("ALPN %r" % alpn)
                c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
                c.initiate_connection()
                c.send_headers(1, [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"),
                                   (":path", "/")], end_stream=True)
                w.write(c.data_to_send())
                status = None
                done = False
                while not done:
                    data = await asyncio.wait_for(r.read(65536), 15)
                    if not data:
                        raise RuntimeError("connection closed before the response")
                    for ev in c.receive_data(data):
                        if isinstance(ev, h2.events.ResponseReceived):
                            status = dict(ev.headers).get(b":status")
                        elif isinstance(ev, h2.events.DataReceived):
                            c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                        elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == 1:
                            done = True
                        elif isinstance(ev, (h2.events.ConnectionTerminated, h2.events.StreamReset)):
                            raise RuntimeError(type(ev).__name__)
                    w.write(c.data_to_send())
                await w.drain()
                if status != b"200":
                    raise RuntimeError("status %r" % status)
                kept.append(w)
            except Exception as e:     # noqa: BLE001 - counted and reported
                errors.append("%s: %s" % (type(e).__name__, e))
                if w is not None:
                    w.close()

    await asyncio.gather(*(one() for _ in range(n)))
    return kept, errors


def idle_memory(proxy, n):
    """RSS per idle TLS h2 connection (KiB)."""
    loop = asyncio.new_event_loop()
    try:
        warm, _ = loop.run_until_complete(_idle_conns(proxy.tls, 20))
        for w in warm:
            w.close()
        loop.run_until_complete(asyncio.sleep(1.0))
        pids = proxy.pids()
        before = rss_kib(pids)
        kept, errors = loop.run_until_complete(_idle_conns(proxy.tls, n))
        loop.run_until_complete(asyncio.sleep(1.5))
        alive = proxy.alive()
        after = rss_kib(proxy.pids())
        # Still open? A proxy that closed them would have freed their memory.
        open_now = sum(1 for w in kept if not w.is_closing() and not w.transport.is_closing())
        for w in kept:
            w.close()
        loop.run_until_complete(asyncio.sleep(0.2))
    finally:
        loop.close()
    r = {"ok": not errors and alive and len(kept) == n, "before": before, "after": after,
         "kept": len(kept), "open": open_now, "kib": (after - before) / max(len(kept), 1)}
    why = []
    if errors:
        why.append("%d of %d connections failed (first: %s)" % (len(errors), n, errors[0]))
    if not alive:
        why.append("the proxy exited")
    r["why"] = "; ".join(why)
    return r


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


# ---- the measures --------------------------------------------------------------

class Bench:
    def __init__(self, args, setup):
        self.args = args
        self.setup = setup
        q = args.quick
        self.n_small = 10000 if q else 100000
        self.n_warm = 2000 if q else 10000
        self.n_c1000 = 10000 if q else 60000
        self.n_bytes = 200 if q else 2000
        self.n_latency = 2000 if q else 20000
        self.n_idle = 300 if q else 2000
        self.hs_seconds = 2 if q else 5
        self.results = {}       # (figure, proxy) -> [values]
        self.problems = []      # lines for the end

    def record(self, fig, name, value):
        self.results.setdefault((fig, name), []).append(value)

    def problem(self, rnd, name, what, why):
        line = "round %d %s %s: %s" % (rnd, name, what, why)
        self.problems.append(line)
        say("  ! " + line)

    def start(self, rnd, name, workers=1):
        try:
            return Proxy(name, self.setup, workers)
        except Exception as e:     # noqa: BLE001 - a peer that does not start is skipped
            self.problem(rnd, name, "start (%d worker%s)" % (workers, "s" if workers > 1 else ""), e)
            return None

    def load(self, rnd, p, what, args, url, timeout, fig=None):
        r = h2load(p, args, url, timeout)
        if not r["ok"]:
            self.problem(rnd, p.name, what, r["why"])
            return r
        say("  %-8s %-28s %10.0f req/s  (proxy CPU %3.0f%%)" % (p.name, what, r["rps"], 100 * r["cpu"]))
        if fig:
            self.record(fig, p.name, r["rps"])
        return r

    def warm(self, p):
        h2load(p, ["-n", str(self.n_warm), "-c", "8", "-m", "16"], p.url(True), timeout=60)

    def cell(self, rnd, name, measure, workers=1):
        """Starts name afresh, runs measure(rnd, proxy) and stops it; None when it did not start."""
        p = self.start(rnd, name, workers)
        if not p:
            return None
        try:
            if measure not in (self.m_memory, self.m_handshake):
                self.warm(p)
            return measure(rnd, p)
        finally:
            p.stop()

    def m_small(self, rnd, p):
        args = ["-n", str(self.n_small), "-c", "32", "-m", "16"]
        self.load(rnd, p, "TLS h2 -c 32 -m 16", args, p.url(True), 120, "small_tls")
        if p.h2c:
            self.load(rnd, p, "h2c -c 32 -m 16", args, p.url(False), 120, "small_h2c")
        else:
            self.problem(rnd, p.name, "h2c", "no h2c on the clear-text listener, cell skipped (%s)" % p.h2c_why)

    def m_c1000(self, rnd, p):
        self.load(rnd, p, "TLS h2 -c 1000 -m 1", ["-n", str(self.n_c1000), "-c", "1000", "-m", "1"],
                  p.url(True), 120, "c1000")

    def m_bytes(self, rnd, p):
        r = h2load(p, ["-n", str(self.n_bytes), "-c", "8", "-m", "4"], p.url(True, "/bytes/1048576"), 120)
        if not r["ok"]:
            self.problem(rnd, p.name, "1 MiB responses", r["why"])
            return
        # Each response body is 1 MiB: MiB/s = responses/s.  Check the bytes too.
        traffic = re.search(r"traffic: .*?\((\d+)\) total", r["out"])
        if traffic and int(traffic.group(1)) < r["s2xx"] * MIB:
            self.problem(rnd, p.name, "1 MiB responses", "only %s bytes received" % traffic.group(1))
            return
        say("  %-8s %-28s %10.0f MiB/s  (proxy CPU %3.0f%%)" % (p.name, "1 MiB -c 8 -m 4", r["rps"],
                                                                 100 * r["cpu"]))
        self.record("bytes", p.name, r["rps"])

    def m_latency(self, rnd, p):
        log = os.path.join(p.dir, "latency.log")
        r = h2load(p, ["-n", str(self.n_latency), "-c", "16", "-m", "1", "--rps", "125"], p.url(True),
                   timeout=self.n_latency // 2000 + 60, log_file=log)
        if not r["ok"]:
            self.problem(rnd, p.name, "latency", r["why"])
            return
        times = []
        with open(log) as f:
            for line in f:
                cols = line.split("\t")
                if len(cols) >= 3 and cols[1].strip() not in ("-1", ""):
                    times.append(int(cols[2]) / 1000.0)
        times.sort()
        if len(times) < 0.99 * self.n_latency:
            self.problem(rnd, p.name, "latency", "only %d request times logged" % len(times))
            return
        p50, p99 = percentile(times, 0.50), percentile(times, 0.99)
        say("  %-8s %-28s p50 %.3f ms  p99 %.3f ms  (%.0f req/s, proxy CPU %3.0f%%)"
            % (p.name, "latency -c 16 --rps 125", p50, p99, r["rps"], 100 * r["cpu"]))
        self.record("lat_p50", p.name, p50)
        self.record("lat_p99", p.name, p99)

    def m_memory(self, rnd, p):
        r = idle_memory(p, self.n_idle)
        if not r["ok"]:
            self.problem(rnd, p.name, "idle memory", r["why"])
            return
        if r["open"] < r["kept"]:
            self.problem(rnd, p.name, "idle memory", "the proxy closed %d of the %d idle connections within 1.5 s"
                         % (r["kept"] - r["open"], r["kept"]))
            return
        say("  %-8s %-28s %8.1f KiB/conn  (RSS %d -> %d KiB, %d connections)"
            % (p.name, "idle TLS h2 connections", r["kib"], r["before"], r["after"], r["kept"]))
        self.record("mem", p.name, r["kib"])

    def m_handshake(self, rnd, p):
        for mode, fig, label in (("new", "hs_full", "full TLS 1.3"), ("reuse", "hs_resumed", "resumed TLS 1.2")):
            r = s_time(p, mode, self.hs_seconds)
            if not r["ok"]:
                self.problem(rnd, p.name, label + " handshakes", r["why"])
                continue
            say("  %-8s %-28s %8.0f /CPU-s  (%.0f conn/s reached, proxy CPU %3.0f%%%s)"
                % (p.name, label + " handshakes", r["per_cpu_s"], r["rate"], 100 * r["cpu"],
                   ", %.0f%% resumed" % (100 * r["reused"]) if mode == "reuse" else ""))
            self.record(fig, p.name, r["per_cpu_s"])
            self.record(fig + "_rate", p.name, r["rate"])

    def tls_rps(self, rnd, p):
        r = self.load(rnd, p, "TLS h2 -c 32 -m 16, %d worker%s" % (p.workers, "s" if p.workers > 1 else ""),
                      ["-n", str(self.n_small), "-c", "32", "-m", "16"], p.url(True), 120)
        return r["rps"] if r["ok"] else None

    def workers(self, rnd, name):
        rps = [self.cell(rnd, name, self.tls_rps, workers) for workers in (1, 2)]
        if None in rps:
            return
        self.record("w2", name, rps[1])
        self.record("w2_scale", name, rps[1] / rps[0])
        say("  %-8s %-28s %10.2f x" % (name, "scaling 2 workers / 1", rps[1] / rps[0]))

    def run(self, proxies, measures):
        for rnd in range(1, self.args.rounds + 1):
            # Each round starts with another proxy, so none is always first.
            shift = (rnd - 1) % len(proxies)
            order = proxies[shift:] + proxies[:shift]
            for m in measures:
                say("round %d/%d, %s:" % (rnd, self.args.rounds, m))
                for name in order:
                    if m == "workers":
                        self.workers(rnd, name)
                    else:
                        self.cell(rnd, name, getattr(self, "m_" + m))

    def table(self, proxies, measures):
        figs = [f for f in FIGURES if f[1] in measures]
        peers = [p for p in proxies if p != "h2guard"]
        say("")
        say("Medians over %d round%s (%s):" % (self.args.rounds, "s" if self.args.rounds > 1 else "",
                                               "quick run" if self.args.quick else "full run"))
        head = "%-34s %-6s" % ("measure", "unit") + "".join("%11s" % p for p in proxies)
        say(head)
        say("-" * len(head))
        med = {}
        for key, _, label, unit, _ in figs:
            cells = []
            for p in proxies:
                v = self.results.get((key, p))
                if v:
                    med[key, p] = statistics.median(v)
                    cells.append("%11s" % fmt(med[key, p]))
                else:
                    cells.append("%11s" % "-")
            say("%-34s %-6s" % (label, unit) + "".join(cells))
        if "h2guard" not in proxies or not peers:
            return
        say("")
        say("h2guard's ratio to each peer (> 1: h2guard better; for latency and memory, where less is")
        say("better, the ratio is peer / h2guard, so > 1 still means h2guard better):")
        head = "%-34s" % "measure" + "".join("%11s" % ("/" + p) for p in peers)
        say(head)
        say("-" * len(head))
        for key, _, label, unit, higher in figs:
            cells = []
            g = med.get((key, "h2guard"))
            for p in peers:
                v = med.get((key, p))
                if g is None or v is None or g == 0 or v == 0:
                    cells.append("%11s" % "-")
                else:
                    cells.append("%11.2f" % (g / v if higher else v / g))
            say("%-34s" % label + "".join(cells))


def fmt(v):
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def main():
    ap = argparse.ArgumentParser(description="h2guard against nghttpx, HAProxy, nginx and h2o "
                                 "(see the top of this file for what is measured and how).")
    ap.add_argument("--rounds", type=int, default=3, help="rounds over all proxies (default 3)")
    ap.add_argument("--quick", action="store_true", help="fewer requests and connections: a smoke run")
    ap.add_argument("--only", action="append", default=[], metavar="NAME[,NAME]",
                    help="only these proxies (%s)" % ", ".join(PROXIES))
    ap.add_argument("--skip", action="append", default=[], metavar="MEASURE[,MEASURE]",
                    help="skip these measures (%s)" % ", ".join(MEASURES))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (configurations, logs)")
    args = ap.parse_args()
    if not 1 <= args.rounds <= 20:
        ap.error("--rounds must be 1..20")
    only = [x for a in args.only for x in a.split(",") if x]
    skip = [x for a in args.skip for x in a.split(",") if x]
    for x in only:
        if x not in PROXIES:
            ap.error("unknown proxy %r (one of %s)" % (x, ", ".join(PROXIES)))
    for x in skip:
        if x not in MEASURES:
            ap.error("unknown measure %r (one of %s)" % (x, ", ".join(MEASURES)))
    measures = [m for m in MEASURES if m not in skip]

    for tool, pkg in (("h2load", "nghttp2-client"), ("openssl", "openssl")):
        if not find_bin(tool):
            sys.exit("%s missing: apt-get install -y %s" % (tool, pkg))
    for path in (H2GUARD_BIN, UPSTREAM_BIN):
        if not os.access(path, os.X_OK):
            sys.exit("%s missing: build first (cd build && make), or set H2GUARD_BIN / H2GUARD_UPSTREAM" % path)
    if "memory" in measures:
        try:
            import h2.connection  # noqa: F401
        except ImportError:
            sys.exit("python3-h2 missing (memory measure): apt-get install -y python3-h2, or --skip memory")

    proxies = []
    for name in (only or PROXIES):
        if name != "h2guard" and not find_bin(name):
            say("%s not installed, skipped: apt-get install -y %s" % (name, PACKAGES[name]))
            continue
        proxies.append(name)

    # Enough descriptors for 2,000 clients and their upstream connections, here
    # (the memory client) and in the proxies, which inherit the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 20000 if hard == resource.RLIM_INFINITY else min(hard, 20000)
    if soft == resource.RLIM_INFINITY or soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    maxconn = min(10000, (nofile - 200) // 2)
    bench_idle = 300 if args.quick else 2000
    if maxconn < bench_idle + 100:
        sys.exit("RLIMIT_NOFILE is %d: too low for %d connections (raise the hard limit)" % (nofile, bench_idle))

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="h2guard-peers-")
    os.chmod(tmp, 0o755)
    try:
        subprocess.run([os.path.join(TOP, "conf", "gen-demo-cert.sh"), tmp], check=True,
                       stdout=subprocess.DEVNULL)
        up_log = os.path.join(tmp, "upstream.log")
        up = subprocess.Popen([UPSTREAM_BIN, "--listen", "127.0.0.1:0"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=open(up_log, "ab"), start_new_session=True)
        LIVE.append(up)
        line = up.stdout.readline().decode()
        if not line.startswith("READY "):
            sys.exit("the upstream did not start: %r" % line)
        setup = Setup(tmp, os.path.join(tmp, "demo-cert.pem"), os.path.join(tmp, "demo-key.pem"),
                      int(line.split()[1]), maxconn)

        say("h2guard against peer proxies, all on 127.0.0.1, %s" % time.strftime("%Y-%m-%d %H:%M:%S"))
        say("machine: %d CPUs, load average %.2f %.2f %.2f" % ((os.cpu_count(),) + os.getloadavg()))
        for name in proxies:
            say("  %-8s %s" % (name, version(name)))
        say("one worker each (two in 'workers'), TLS h2 and h2c listeners, no access log, HTTP/1.1 keep-alive")
        say("to the same upstream (h2guard-upstream, port %d); h2guard with limit stream_rate, streams," % setup.up)
        say("client_stream_rate, client_conn_rate and client_max_connections off: all the load comes from one")
        say("address, which its flood limits would otherwise stop (the peers have no such limits); ban_log")
        say("off, log_level error.")
        say("rounds %d%s; measures: %s" % (args.rounds, ", quick" if args.quick else "", ", ".join(measures)))
        bench = Bench(args, setup)
        t0 = time.monotonic()
        bench.run(proxies, measures)
        bench.table(proxies, measures)
        if bench.problems:
            say("")
            say("Problems (cells skipped):")
            for line in bench.problems:
                say("  " + line)
        say("")
        say("took %.0f s" % (time.monotonic() - t0))
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        stop_all()
        if args.keep:
            say("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def version(name):
    cmd = {"h2guard": [H2GUARD_BIN, "--version"], "nghttpx": [find_bin("nghttpx") or "nghttpx", "--version"],
           "haproxy": [find_bin("haproxy") or "haproxy", "-v"], "nginx": [find_bin("nginx") or "nginx", "-v"],
           "h2o": [find_bin("h2o") or "h2o", "--version"]}[name]
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10).stdout
        return out.decode(errors="replace").strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "(version unknown)"


if __name__ == "__main__":
    sys.exit(main())
