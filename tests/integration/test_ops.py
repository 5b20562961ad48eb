"""Operations, with the real binary, the real upstream and real clients:
the access log and its reopening on SIGUSR1, the admin listener (/metrics
values after a known sequence, the ban API), reload on SIGHUP under load
(good and broken configurations), graceful stop on SIGTERM during a long
download, two workers sharing one ban table, the ban table saved across a
restart, and PROXY protocol v1/v2 listeners.

Clients: 127.0.0.1 is the legitimate one, 127.0.0.60.. are the banned ones."""

import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import harness
from harness import (H2guard, RawClient, Upstream, admin, check, closed_at_accept, curl,
                     free_port, log, metrics, need, pattern, tmpdir, wait_for, wait_port)

need("curl")
up = Upstream()
T = tmpdir()


def start(extra="", **kw):
    # Bans are closed at accept here (test_kdrop.py: dropped by the kernel).
    g = H2guard([up.addr], extra="kernel_drop off\n" + extra, admin=True, **kw)
    check(wait_port(g.admin_port), "the admin listener is up on 127.0.0.1:%d" % g.admin_port)
    return g


def jlines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


# ---- access log, SIGUSR1 ---------------------------------------------------
alog = os.path.join(T, "access.log")
g = start("access_log %s\nrule wp path prefix /wp-login.php ban\nupstream_response_timeout 1s\n"
          "limit ping_rate 20/10s\n" % alog)
curl(["--http2", g.tls_url + "/a?x=1"])
curl(["--http1.1", g.url + "/status/404"])
curl(["--http2-prior-knowledge", "-d", "hello", g.url + "/echo"])
check(wait_for(lambda: len(jlines(alog)) >= 3, 3), "three requests, three access log lines")
# Each worker writes its lines in batches of its own (H2GUARD_TEST_WORKERS), so
# the file's order is the requests' only with one worker; the connection ids
# (one connection per curl, numbered across workers) are.
lines = sorted(jlines(alog), key=lambda l: l["conn"])
a, b, c = lines[:3]
check(a["protocol"] == "h2" and a["method"] == "GET" and a["path"] == "/a?x=1" and a["status"] == 200
      and a["client"] == "127.0.0.1" and a["upstream"] == up.addr and a["bytes_out"] == len("ok GET /a?x=1\n")
      and a["authority"] == "127.0.0.1:%d" % g.tls_port and "duration_ms" in a and a["time"].endswith("Z"),
      "the h2 request's line: %s" % a)
check(b["protocol"] == "http/1.1" and b["status"] == 404, "the HTTP/1.1 404's line: %s" % b)
check(c["method"] == "POST" and c["bytes_in"] == 5 and c["bytes_out"] == 5, "the POST's bytes in and out: %s" % c)
# A banned request is in the ban log, not in the access log.
r = curl(["--http2", g.tls_url + "/wp-login.php"], check_rc=False)
time.sleep(0.5)
check(all(l["path"] != "/wp-login.php" for l in jlines(alog)), "a banned request writes no access log line")
# logrotate: move the file away, SIGUSR1, the next lines go to a new file.
os.rename(alog, alog + ".1")
g.proc.send_signal(signal.SIGUSR1)
check(wait_for(lambda: "reopening the log files" in g.log(), 3), "SIGUSR1 is logged")
curl(["--http2", g.tls_url + "/after-rotate"])
check(wait_for(lambda: len(jlines(alog)) == 1, 3) and jlines(alog)[0]["path"] == "/after-rotate",
      "after SIGUSR1 the access log is a new file with the new request only")
check(all(l["path"] != "/after-rotate" for l in jlines(alog + ".1")), "the rotated file got nothing more")

# ---- metrics after a known sequence -----------------------------------------
m0 = metrics(g)
for i in range(5):
    curl(["--http2", g.tls_url + "/m%d" % i])
curl(["--http1.1", g.url + "/status/503"])
curl(["--http2", g.tls_url + "/wp-login.php"], check_rc=False)
time.sleep(0.3)
m1 = metrics(g)


def delta(k):
    return m1.get(k, 0) - m0.get(k, 0)


check(delta('h2guard_requests_total{status="2xx"}') == 5, "requests_total 2xx moved by 5")
check(delta('h2guard_requests_total{status="5xx"}') == 1, "requests_total 5xx moved by 1")
check(delta('h2guard_bans_total{rule="wp"}') == 1, "bans_total{rule=\"wp\"} moved by 1")
check(delta("h2guard_connections_accepted_total") == 7, "7 connections accepted (%s)"
      % delta("h2guard_connections_accepted_total"))
check(delta("h2guard_request_duration_seconds_count") == 6, "the latency histogram counted 6 requests")
check(m1.get('h2guard_floods_total{limit="ping_rate"}') == 0, "floods_total has a ping_rate series at 0")
# A PING flood, an upstream timeout.
fl = RawClient(g.port, tls=False, source="127.0.0.67")
for i in range(40):
    fl.h2.ping(b"%08d" % i)
fl.send_raw_tcp(fl.h2.data_to_send())
fl.recv_raw()
r = curl([g.url + "/silent"], check_rc=False)
time.sleep(0.3)
m2 = metrics(g)
check(m2['h2guard_floods_total{limit="ping_rate"}'] == 1, "floods_total{limit=\"ping_rate\"} moved by 1")
check(m2["h2guard_upstream_timeouts_total"] - m1["h2guard_upstream_timeouts_total"] == 1
      and m2['h2guard_requests_total{status="5xx"}'] - m1['h2guard_requests_total{status="5xx"}'] == 1,
      "a 504 moved upstream_timeouts_total and requests_total 5xx")
check(m2["h2guard_connections_open"] == 0, "connections_open is 0 with no client connected")
held = RawClient(g.port, tls=False)
held.get("/held")
check(metrics(g)["h2guard_connections_open"] == 1, "connections_open is 1 with one client connected")
held.close()
check(wait_for(lambda: metrics(g)["h2guard_connections_open"] == 0, 3), "and 0 again once it left")
if harness.WORKERS:
    # H2GUARD_TEST_WORKERS set workers in every configuration: no default here.
    want = len(os.sched_getaffinity(0)) if harness.WORKERS == "auto" else int(harness.WORKERS)
    check(m1.get("h2guard_workers") == want, "h2guard_workers is %d (H2GUARD_TEST_WORKERS)" % want)
else:
    check(m1.get("h2guard_workers") == 1, "one worker by default")

dead = H2guard(["127.0.0.1:%d" % free_port()], tls=False, admin=True)
r = curl([dead.url + "/x"], check_rc=False)
check(r.out.startswith("502"), "an upstream refusing connections: 502")
check(metrics(dead)["h2guard_upstream_errors_total"] == 1, "upstream_errors_total is 1")
dead.stop()

# ---- the ban API ---------------------------------------------------------------
live = RawClient(g.port, tls=False, source="127.0.0.61")
check(live.get("/x")[0] == 200, "127.0.0.61 is served before its ban")
code, body = admin(g, "POST", "/bans?address=127.0.0.61&ttl=1h")
check(code == 200 and json.loads(body)["banned"] == "127.0.0.61/32", "POST /bans bans an address: %s %s" % (code, body))
n, how = live.recv_raw()
check(n == 0 and how in ("reset", "eof"), "its live connection is torn down at once, writing nothing (%d bytes, %s)" % (n, how))
check(closed_at_accept("127.0.0.61", g.port), "its new connections are closed at accept")
code, body = admin(g, "POST", "/bans", "address=127.0.1.0/24&ttl=30s")
check(code == 415, "POST /bans refuses a form body (what a cross-site HTML form sends): %d" % code)
code, body = admin(g, "POST", "/bans?address=127.0.1.0/24&ttl=30s")
check(code == 200, "POST /bans takes a prefix")
check(closed_at_accept("127.0.1.77", g.port), "an address in the banned /24 is dropped")
code, body = admin(g, "GET", "/bans")
bl = {b["address"]: b["ttl_ms"] for b in json.loads(body)["bans"]}
check(code == 200 and 3500000 < bl.get("127.0.0.61/32", 0) <= 3600000 and 0 < bl.get("127.0.1.0/24", 0) <= 30000,
      "GET /bans lists both with their ttl left: %s" % bl)
check(metrics(g).get("h2guard_ban_table_entries") == 2, "ban_table_entries is 2")
code, body = admin(g, "DELETE", "/bans?address=127.0.0.61")
check(code == 200, "DELETE /bans lifts the ban")
check(not closed_at_accept("127.0.0.61", g.port), "127.0.0.61 is served again")
code, _ = admin(g, "DELETE", "/bans?address=127.0.0.61")
check(code == 404, "DELETE of an address not banned is 404")
code, _ = admin(g, "POST", "/bans?address=300.1.1.1&ttl=1m")
check(code == 400, "a bad address is 400")
# What a page in the operator's browser could send (the admin listener
# reached through an ssh tunnel, say): refused, nothing banned.
def banned_list():
    return sorted(b["address"] for b in json.loads(admin(g, "GET", "/bans")[1])["bans"])


before = banned_list()
au = "http://127.0.0.1:%d/bans?address=0.0.0.0/1&ttl=30d" % g.admin_port
for what, args, want in (
        ("a cross-site form post", ["-H", "Origin: http://evil.example", "-d", ""], "403"),
        ("a no-cors fetch from another site", ["-H", "Origin: http://evil.example",
                                               "-H", "Sec-Fetch-Site: cross-site"], "403"),
        ("a form post with no Origin", ["-H", "Content-Type: application/x-www-form-urlencoded", "-d", ""], "415"),
        ("DNS rebinding (Host: a name)", ["-H", "Host: evil.example:%d" % g.admin_port], "403")):
    r = curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"] + args + [au], check_rc=False)
    check(r.out == want, "%s: %s" % (what, r.out))
r = curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: evil.example",
          "http://127.0.0.1:%d/metrics" % g.admin_port], check_rc=False)
check(r.out == "403", "GET /metrics with Host: a name (DNS rebinding): %s" % r.out)
check(banned_list() == before, "none of them banned anything: %s" % banned_list())
g.stop()
check("stopped:" in g.log(), "the stop line is written")

# admin_token: every request carries it; a reload takes a new one.
tok = os.path.join(T, "admin.token")
with open(tok, "w") as f:
    f.write("a" * 32 + "\n")
g = start("admin_token %s\n" % tok)


def with_token(t, path="/metrics", method="GET"):
    args = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method]
    if t:
        args += ["-H", "Authorization: Bearer " + t]
    return curl(args + ["http://127.0.0.1:%d%s" % (g.admin_port, path)], check_rc=False).out


check(with_token(None) == "401", "admin_token: no token, 401")
check(with_token("b" * 32) == "401", "admin_token: a wrong token, 401")
check(with_token("a" * 32) == "200", "admin_token: the token, 200")
check(with_token("a" * 32, "/bans?address=192.0.2.1&ttl=1m", "POST") == "200", "admin_token: a write with it")
with open(tok, "w") as f:
    f.write("c" * 40 + "\n")
g.proc.send_signal(signal.SIGHUP)
check(wait_for(lambda: "configuration generation 2 in force" in g.log(), 5), "reload")
check(with_token("a" * 32) == "401" and with_token("c" * 40) == "200", "a reload takes the new token")
with open(tok, "w") as f:
    f.write("short\n")
g.proc.send_signal(signal.SIGHUP)
check(wait_for(lambda: re.search(r"h2guard-\d+\.conf:\d+: admin_token .*: expected one line", g.log()), 5),
      "a bad token file: the reload fails with FILE:LINE")
check(with_token("c" * 40) == "200", "and the token in force stays")
g.stop()

# ---- reload on SIGHUP under load -------------------------------------------------
# The load opens connections fast from one address: no client_conn_rate.
g = start("rule old path prefix /old-ban ban\nlimit client_conn_rate off\n")
base_conf = open(g.conf).read()
results = {"ok": 0, "bad": []}
stop_load = threading.Event()


def load():
    """New connections (HTTP/1.1) and one long-lived h2 connection, all the time."""
    i = 0
    while not stop_load.is_set() and i < 3000:
        i += 1
        try:
            s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
            s.sendall(b"GET /load HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            d = b""
            while True:
                x = s.recv(4096)
                if not x:
                    break
                d += x
            s.close()
            if d.startswith(b"HTTP/1.1 200"):
                results["ok"] += 1
            else:
                results["bad"].append(d[:60])
        except OSError as e:
            results["bad"].append(str(e))


old_conn = RawClient(g.port, tls=False, source="127.0.0.62")
check(old_conn.get("/x")[0] == 200, "a connection opened before the reload is served")
th = threading.Thread(target=load)
th.start()
time.sleep(0.5)
# A ban added before the reload must survive it.
check(admin(g, "POST", "/bans?address=127.0.0.63&ttl=1h")[0] == 200, "127.0.0.63 banned before the reload")
with open(g.conf, "w") as f:
    f.write(base_conf.replace("rule old path prefix /old-ban ban", "rule new path prefix /new-ban ban"))
g.proc.send_signal(signal.SIGHUP)
check(wait_for(lambda: "configuration generation 2 in force" in g.log(), 5), "SIGHUP with a good file: generation 2 in force")
time.sleep(0.5)
with open(g.conf, "w") as f:
    f.write(base_conf + "bogus_key 1\nrule bad path nope\n")
g.proc.send_signal(signal.SIGHUP)
check(wait_for(lambda: "reload failed" in g.log(), 5), "SIGHUP with a broken file fails")
errs = re.findall(r"reload: (%s:\d+: .*)" % re.escape(g.conf), g.log())
check(len(errs) >= 2, "the broken file's errors are logged as FILE:LINE: %s" % errs)
time.sleep(0.5)
stop_load.set()
th.join(60)
check(results["ok"] > 20 and not results["bad"], "no request failed during the reloads: %d ok, failures %s"
      % (results["ok"], results["bad"][:3]))
check(closed_at_accept("127.0.0.63", g.port), "the ban table survived the reloads")
check(curl([g.url + "/old-ban"], check_rc=False).out.startswith("ok GET /old-ban"),
      "a new connection is under the new configuration: the removed rule no longer bans")
r = curl([g.url + "/new-ban"], check_rc=False)
check(r.out == "", "a new connection is under the new configuration: the added rule bans")
check(old_conn.get("/new-ban")[0] == 200, "the connection opened before the reload is still under the old one")
old_conn.close()
m = metrics(g)
check(m.get('h2guard_config_reloads_total{result="ok"}') == 1 and m.get('h2guard_config_reloads_total{result="failed"}') == 1,
      "config_reloads_total counts one ok and one failed")
g.stop()

# ---- graceful stop during a long download ----------------------------------------
g = start("shutdown_timeout 20s\n")
size = 8 * 1024 * 1024
dl = subprocess.Popen(["curl", "-sS", "-k", "--http2", "--limit-rate", "2M", "-o", os.path.join(T, "dl"),
                       "-w", "%{http_code} %{size_download}", g.tls_url + "/bytes/%d" % size],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
h1 = subprocess.Popen(["curl", "-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                       g.url + "/slow/2000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
idle = RawClient(g.port, tls=False)
check(idle.get("/y")[0] == 200, "an idle h2 connection is open")
time.sleep(1)
t0 = time.time()
g.proc.send_signal(signal.SIGTERM)
time.sleep(0.5)
refused = False
try:
    socket.create_connection(("127.0.0.1", g.port), timeout=2).close()
except OSError:
    refused = True
check(refused, "after SIGTERM new connections are refused")
import h2.events  # noqa: E402
events = idle.h2.receive_data(idle.recv())
check(any(isinstance(e, h2.events.ConnectionTerminated) and e.error_code == 0 for e in events),
      "the idle h2 connection got a GOAWAY(NO_ERROR): %s" % events)
out, err = dl.communicate(timeout=30)
check(out.decode() == "200 %d" % size, "the download in flight completed: %s %s" % (out.decode(), err.decode()))
out, _ = h1.communicate(timeout=10)
check(out.decode() == "200 5", "the HTTP/1.1 request in flight completed: %s" % out.decode())
g.proc.wait(25)
check(g.proc.returncode == 0, "h2guard exited 0 after %.1f s, once they were done" % (time.time() - t0))
g.stop()

# An HTTP/1.1 client that reads slowly: its response, all produced before the
# stop, still reaches it in full.
g = start("shutdown_timeout 20s\n")
N = 2100000
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", g.port))
s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n" % N)
time.sleep(1.5)  # the upstream is done; the rest waits in h2guard's buffers
g.proc.send_signal(signal.SIGTERM)
time.sleep(0.3)
s.settimeout(10)
d = b""
try:
    while True:
        x = s.recv(65536)
        if not x:
            break
        d += x
except OSError as e:
    log("recv: %s" % e)
s.close()
head, _, rest = d.partition(b"\r\n\r\n")
body, complete = b"", False
while True:  # chunked
    line, sep, rest = rest.partition(b"\r\n")
    if not sep:
        break
    size = int(line, 16)
    if size == 0:
        complete = True
        break
    body += rest[:size]
    rest = rest[size + 2:]
check(complete and body == pattern(N),
      "a slow HTTP/1.1 reader gets its whole response across a stop (%d of %d bytes%s)"
      % (len(body), N, ", last chunk" if complete else ""))
g.stop()

# ---- two workers, one ban table ---------------------------------------------------
g = start("workers 2\nrule trap path prefix /trap ban ttl 1h\n")
check(wait_for(lambda: "2 workers" in g.log(), 10), "two workers started")
lives = []
for i in range(12):
    c = RawClient(g.port, tls=False, source="127.0.0.64")
    check(c.get("/w%d" % i)[0] == 200, "connection %d from 127.0.0.64 served" % i) if i == 0 else c.get("/w")
    lives.append(c)
before = metrics(g)
c = RawClient(g.port, tls=False, source="127.0.0.64")
c.send_raw_tcp(c.requests(["/trap"]))
c.recv_raw()
torn = 0
for l in lives:
    n, how = l.recv_raw()
    torn += n == 0 and how in ("reset", "eof")
check(torn == 12, "a ban on one worker tore down the address's 12 connections spread over both (%d)" % torn)
drops = sum(closed_at_accept("127.0.0.64", g.port) for _ in range(20))
check(drops == 20, "20 new connections from it are dropped, whichever worker accepts them (%d)" % drops)
m = metrics(g)
check(m["h2guard_accept_drops_total{reason=\"banned\"}"] - before.get("h2guard_accept_drops_total{reason=\"banned\"}", 0) == 20,
      "the accept drops of both workers are summed in /metrics")
check(m.get("h2guard_workers") == 2, "h2guard_workers is 2")
# Both workers accept: the kernel spreads connections over their sockets.
pids = set()
for i in range(30):
    curl(["--http1.1", g.url + "/spread%d" % i])
g.stop()
threads = [l for l in g.log().splitlines() if "started, 2 workers" in l]
check(threads, "the start line names the worker count")

# A reload that drops the first listen line and adds another address.
g = start("workers 2\n", tls=True)
conf = open(g.conf).read()
newport = free_port()
with open(g.conf, "w") as f:
    f.write(conf.replace("listen 127.0.0.1:%d\n" % g.port, "listen 127.0.0.1:%d\n" % newport))
g.proc.send_signal(signal.SIGHUP)
check(wait_for(lambda: "configuration generation 2 in force" in g.log(), 5) and g.proc.poll() is None,
      "a reload removing the first listen address, two workers: still running")
check(wait_for(lambda: not wait_port(g.port, timeout=0.2), 3), "the removed address refuses connections")
check(curl([g.tls_url + "/kept"]).out.startswith("ok GET /kept"), "the kept address serves")
check(curl(["http://127.0.0.1:%d/added" % newport]).out.startswith("ok GET /added"), "the added address serves")
g.stop()

# ---- ban table persistence ----------------------------------------------------------
state = os.path.join(T, "bans.state")
g = start("ban_state_file %s\n" % state)
check(admin(g, "POST", "/bans?address=127.0.0.65&ttl=1h")[0] == 200, "127.0.0.65 banned for 1 h")
check(admin(g, "POST", "/bans?address=127.0.0.66&ttl=1s")[0] == 200, "127.0.0.66 banned for 1 s")
g.stop()
check(os.path.exists(state) and "127.0.0.65/32" in open(state).read(), "the ban table was saved at stop")
time.sleep(1.2)
g = start("ban_state_file %s\n" % state)
check(closed_at_accept("127.0.0.65", g.port), "after a restart 127.0.0.65 is still dropped")
check(not closed_at_accept("127.0.0.66", g.port), "a ban that expired while h2guard was down is gone")
bl = {b["address"]: b["ttl_ms"] for b in json.loads(admin(g, "GET", "/bans")[1])["bans"]}
check(3500000 < bl.get("127.0.0.65/32", 0) < 3600000, "it keeps its remaining ttl: %s" % bl)
g.stop()

# ---- PROXY protocol ----------------------------------------------------------------------
pport = free_port()
g = start("listen 127.0.0.1:%d proxy_protocol\naccess_log %s\nrule trap path prefix /trap ban ttl 1h\n"
          % (pport, alog + ".pp"))


def proxied(header, req=b"GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", src="127.0.0.1"):
    s = socket.create_connection(("127.0.0.1", pport), timeout=5, source_address=(src, 0))
    s.sendall(header + req)
    d = b""
    try:
        while True:
            x = s.recv(65536)
            if not x:
                break
            d += x
    except ConnectionResetError:
        pass
    s.close()
    return d


def v2(src, dst="192.0.2.1", sport=4000, dport=443):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


d = proxied(b"PROXY TCP4 198.51.100.7 192.0.2.1 5000 443\r\n")
check(d.startswith(b"HTTP/1.1 200") and b"x-forwarded-for: 198.51.100.7" in d.lower(),
      "PROXY v1: served, X-Forwarded-For is the address it carries")
d = proxied(v2("198.51.100.8"))
check(d.startswith(b"HTTP/1.1 200") and b"x-forwarded-for: 198.51.100.8" in d.lower(), "PROXY v2: the same")
check(wait_for(lambda: any(l["client"] == "198.51.100.8" for l in jlines(alog + ".pp")), 3),
      "the access log names the address the PROXY header carries")
d = proxied(b"PROXY TCP4 198.51.100.9 192.0.2.1 5000 443\r\n", b"GET /trap HTTP/1.1\r\nHost: x\r\n\r\n")
check(d == b"", "a banned request behind PROXY v1: nothing written")
check(proxied(b"PROXY TCP4 198.51.100.9 192.0.2.1 5001 443\r\n") == b"",
      "its address (from the header) is now banned: the next connection is dropped")
check(proxied(v2("198.51.100.9")) == b"", "PROXY v2 with the banned address: dropped")
check(proxied(v2("198.51.100.10")).startswith(b"HTTP/1.1 200"), "another address behind the same balancer is served")
check(proxied(b"") == b"", "no PROXY header: closed")
check(proxied(b"PROXY TCP4 1.2.3 192.0.2.1 5000 443\r\n") == b"", "a malformed PROXY header: closed")
m = metrics(g)
check(m.get('h2guard_accept_drops_total{reason="proxy_protocol"}', 0) == 2, "two PROXY errors counted")
check(curl([g.url + "/plain"]).out.startswith("ok GET /plain"), "the listener without proxy_protocol is unaffected")
g.stop()

# client_conn_rate counts the address the header carries; crossing it with
# flood_ban_ttl bans that address, not the balancer.
pport = free_port()
g = start("listen 127.0.0.1:%d proxy_protocol\nlimit client_conn_rate 3/10s\nflood_ban_ttl 60s\n" % pport)
got = [proxied(b"PROXY TCP4 198.51.100.20 192.0.2.1 5000 443\r\n")[:12] for i in range(5)]
check(got[:3] == [b"HTTP/1.1 200"] * 3 and got[3:] == [b"", b""],
      "behind PROXY, the 4th connection of one client crosses client_conn_rate: %s" % got)
check(proxied(v2("198.51.100.21")).startswith(b"HTTP/1.1 200"), "another client behind the balancer is served")
# A ban of the balancer's own address does not touch connections whose
# header has not arrived yet: their client is not known.
pending = socket.create_connection(("127.0.0.1", pport), timeout=5)
time.sleep(0.2)
check(admin(g, "POST", "/bans?address=127.0.0.1&ttl=1m")[0] == 200, "the balancer's address banned")
pending.sendall(b"PROXY TCP4 198.51.100.22 192.0.2.1 5000 443\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
d = b""
try:
    while True:
        x = pending.recv(4096)
        if not x:
            break
        d += x
except OSError:
    pass
check(d.startswith(b"HTTP/1.1 200"), "a connection waiting for its PROXY header is judged by the client it names")
# A header that carries no address (v2 LOCAL, v1 UNKNOWN) leaves the TCP
# source as the client: judged by the ban table and client_conn_rate.
LOCAL = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20, 0x00]) + struct.pack("!H", 0)
check(proxied(LOCAL) == b"", "PROXY v2 LOCAL from the banned 127.0.0.1: dropped")
check(proxied(b"PROXY UNKNOWN\r\n") == b"", "PROXY v1 UNKNOWN from the banned 127.0.0.1: dropped")
check(admin(g, "DELETE", "/bans?address=127.0.0.1")[0] == 200, "the balancer's ban lifted")
got = [proxied(LOCAL if i % 2 else b"PROXY UNKNOWN\r\n", src="127.0.0.5")[:12] for i in range(5)]
check(got[:3] == [b"HTTP/1.1 200"] * 3 and got[3:] == [b"", b""],
      "LOCAL and UNKNOWN connections count against client_conn_rate 3/10s of their TCP source: %s" % got)
g.stop()

# forwarded_headers: strip (default) drops what the client says, trust keeps it.
g = start()
r = curl(["-H", "X-Forwarded-For: 6.6.6.6", "-H", "X-Forwarded-Proto: gopher", g.url + "/headers"])
check("6.6.6.6" not in r.out and "gopher" not in r.out and "X-Forwarded-For: 127.0.0.1" in r.out,
      "forwarded_headers strip: incoming X-Forwarded-* replaced")
g.stop()
g = start("forwarded_headers trust\n")
r = curl(["-H", "X-Forwarded-For: 6.6.6.6", "-H", "X-Forwarded-Proto: https", g.url + "/headers"])
check("X-Forwarded-For: 6.6.6.6, 127.0.0.1" in r.out and "X-Forwarded-Proto: https" in r.out,
      "forwarded_headers trust: the client address is appended, the protocol kept")
r = curl(["-H", "X-Forwarded-For: 6.6.6.6", "-H", "Connection: X-Forwarded-For", g.url + "/headers"])
check("6.6.6.6" not in r.out and "X-Forwarded-For: 127.0.0.1" in r.out,
      "forwarded_headers trust: a field the client named in Connection is hop-by-hop")
g.stop()
log("all operations checks passed")
