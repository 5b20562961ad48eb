"""Ban rules and whole-connection silent teardown, with the real binary, a
real upstream that counts what it receives, and raw clients that count every
byte on the wire (TLS records included).

Clients: 127.0.0.1 is the legitimate one, 127.0.0.3.. are attackers."""

import json
import os
import time

from harness import (H2guard, RawClient, RawUpstream, Upstream, check, curl,
                     need, run, tmpdir)

RULES = """
# Bans are closed at accept here; test_kdrop.py has the kernel's drop.
kernel_drop off
ban_close reset
ban_log %s
rule office   client 127.0.0.4/32                 allow
rule wp       path prefix /wp-login.php           ban
rule sqlmap   header user-agent regex "(?i)sqlmap|nikto"   ban ttl 10m
rule admin    method DELETE path prefix /admin    ban ttl 2s
rule env      path regex "\\.env$"                 log
"""

banlog = os.path.join(tmpdir(), "ban.log")
up = Upstream()
g = H2guard([up.addr], extra=RULES % banlog)


def bans():
    with open(banlog) as f:
        return [json.loads(line) for line in f if line.strip()]


# A legitimate HTTP/2 connection stays open through all of it.
legit = RawClient(g.port, tls=False)
check(legit.get("/before") == (200, b"ok GET /before\n"), "a legitimate h2 connection is served")

# 1. Three requests in one write, the banned one first, in the middle, last:
#    not one byte after the write, the connection reset, nothing forwarded.
orders = (["/wp-login.php", "/ok", "/ok2"], ["/ok", "/wp-login.php", "/ok2"], ["/ok", "/ok2", "/wp-login.php"])
for tls in (False, True):
    for paths in orders:
        up.count(reset=True)
        c = RawClient(g.tls_port if tls else g.port, tls=tls, source="127.0.0.3")
        c.send_raw_tcp(c.requests(paths))
        n, how = c.recv_raw()
        c.close()
        check(n == 0 and how == "reset", "%s %s: %d bytes after the write, then %s"
              % ("TLS" if tls else "h2c", paths, n, how))
        check(up.count() == 0, "none of the three requests reached the upstream")
entry = bans()[-1]
check(entry["event"] == "ban" and entry["rule"] == "wp" and entry["client"] == "127.0.0.3"
      and entry["stream"] == 5 and entry["path"] == "/wp-login.php" and entry["siblings_dropped"] == 2
      and entry["protocol"] == "h2" and entry["ttl"] == 0, "the ban log line says who, what and how much: %s" % entry)

# 2. The same for a pipelined HTTP/1.1 batch, clear text and TLS.
batch = (b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"
         b"GET /wp-login.php HTTP/1.1\r\nHost: a\r\n\r\n"
         b"GET /ok2 HTTP/1.1\r\nHost: a\r\n\r\n")
for tls in (False, True):
    up.count(reset=True)
    c = RawClient(g.tls_port if tls else g.port, tls=tls, h2=False, source="127.0.0.3")
    c.send_raw_tcp(batch)
    n, how = c.recv_raw()
    c.close()
    check(n == 0 and how == "reset" and up.count() == 0,
          "HTTP/1.1 %s pipelined batch with a banned request: %d bytes, %s, nothing forwarded"
          % ("TLS" if tls else "clear text", n, how))
# Parsing stops at the banned request: the one before it is the sibling dropped.
check(bans()[-1]["protocol"] == "http/1.1" and bans()[-1]["siblings_dropped"] == 1,
      "logged as http/1.1 with its dropped sibling: %s" % bans()[-1])


# An absolute-form target does not hide the path from the rules.
up.count(reset=True)
c = RawClient(g.port, tls=False, h2=False, source="127.0.0.3")
c.send_raw_tcp(b"GET http://a/wp-login.php HTTP/1.1\r\nHost: a\r\n\r\n")
n, how = c.recv_raw()
c.close()
check(n == 0 and how == "reset" and up.count() == 0, "absolute-form GET http://a/wp-login.php is banned")


# 3. An upstream request in flight on stream 1, then a banned one on stream 3:
#    the upstream connection of stream 1 is closed, the client gets nothing.
def hold(idx, nth, head):
    return (b"", False)     # never answers


raw = RawUpstream(hold)
g2 = H2guard([raw.addr], extra=RULES % banlog)
for tls in (False, True):
    closed0 = raw.closed
    c = RawClient(g2.tls_port if tls else g2.port, tls=tls, source="127.0.0.5")
    c.send_raw_tcp(c.requests(["/slow-thing"]))
    deadline = time.time() + 5
    while raw.requests < (2 if tls else 1) and time.time() < deadline:
        time.sleep(0.02)
    check(raw.requests == (2 if tls else 1), "the first request reached the upstream")
    c.send_raw_tcp(c.requests(["/wp-login.php"]))
    n, how = c.recv_raw()
    c.close()
    deadline = time.time() + 5
    while raw.closed == closed0 and time.time() < deadline:
        time.sleep(0.02)
    check(n == 0 and how == "reset", "banned while a request is in flight: %d bytes, %s" % (n, how))
    check(raw.closed == closed0 + 1, "the in-flight upstream connection was closed (not pooled)")
check(bans()[-1]["upstream_cancelled"] == 1, "the ban log counts the cancelled upstream request")
g2.stop()

# Requests of a banned connection queued for an upstream connection
# (upstream_max_connections 1) are dropped without costing the upstream a
# connection each.
raw = RawUpstream(hold)
g2 = H2guard([raw.addr], extra=(RULES % banlog) + "upstream_max_connections 1\n")
c = RawClient(g2.port, tls=False, source="127.0.0.5")
c.send_raw_tcp(c.requests(["/q%d" % i for i in range(10)]))
deadline = time.time() + 5
while raw.requests < 1 and time.time() < deadline:
    time.sleep(0.02)
c.send_raw_tcp(c.requests(["/wp-login.php"]))
n, how = c.recv_raw()
c.close()
time.sleep(0.5)
check(n == 0 and how == "reset" and raw.accepted == 1 and raw.requests == 1,
      "banned with 9 requests queued: the upstream saw %d connection(s), %d request(s)" % (raw.accepted, raw.requests))
check(bans()[-1]["siblings_dropped"] == 10 and bans()[-1]["upstream_cancelled"] == 1,
      "the ban log counts 10 siblings, 1 cancelled upstream request: %s" % bans()[-1])
g2.stop()

# 4. ttl: the address is banned; its other live connection is torn down at
#    once; new connections are closed before any TLS byte; after the ttl it
#    is served again.  The legitimate client is never affected.
other = RawClient(g.port, tls=False, source="127.0.0.6")
check(other.get("/x")[0] == 200, "a second connection from the address is served before the ban")
c = RawClient(g.port, tls=False, source="127.0.0.6")
c.send_raw_tcp(c.requests(["/admin/users"], method="DELETE"))
n, how = c.recv_raw()
check(n == 0 and how == "reset", "DELETE /admin: torn down (%d bytes, %s)" % (n, how))
n, how = other.recv_raw()
check(n == 0 and how == "reset", "the address's other live connection was torn down too (%d bytes, %s)" % (n, how))
check(bans()[-1]["ttl"] == 2, "ttl logged")
need("openssl")
r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % g.tls_port, "-bind", "127.0.0.6:0", "-alpn", "h2"],
        input=b"", check_rc=False, timeout=20)
check("Server hello" not in r.out and "Cipher is (NONE)" in r.out and "BEGIN CERTIFICATE" not in r.out,
      "openssl s_client from the banned address gets no ServerHello")
try:
    t = RawClient(g.port, tls=False, h2=False, source="127.0.0.6")
    n, how = t.recv_raw()
except ConnectionResetError:    # the reset may beat connect() itself
    n, how = 0, "reset"
check(n == 0 and how in ("reset", "eof"), "a clear-text connection from the banned address is closed at once")
r = curl(["--interface", "127.0.0.7", "--http2", g.tls_url + "/fine"])
check(r.out == "ok GET /fine\n", "another address is served while 127.0.0.6 is banned")
time.sleep(2.5)
r = curl(["--interface", "127.0.0.6", "--http2", g.tls_url + "/again"])
check(r.out == "ok GET /again\n", "after the ttl the address is served again")

# 5. allow before ban, log, and the legitimate connection.
r = curl(["--interface", "127.0.0.4", "--http2", "-w", " %{http_code}", g.tls_url + "/wp-login.php"])
check(r.out == "ok GET /wp-login.php\n 200", "allow before ban: forwarded")
r = curl(["--interface", "127.0.0.8", "--http2", "-w", " %{http_code}", g.tls_url + "/site/.env"])
check(r.out == "ok GET /site/.env\n 200", "log: forwarded")
check(bans()[-1]["event"] == "log" and bans()[-1]["rule"] == "env", "log: written to the ban log")
r = curl(["--interface", "127.0.0.8", "--http1.1", "-A", "Mozilla/5.0 (sqlmap/1.7)", g.url + "/"], check_rc=False)
check(r.returncode != 0 and r.out == "", "header regex ban: curl gets no response (%d)" % r.returncode)
check(legit.get("/after") == (200, b"ok GET /after\n"), "the legitimate connection was served throughout")
legit.close()
g.stop()

# 6. dry_run turns bans into log lines; ban_close fin closes with FIN.
g = H2guard([up.addr], extra=(RULES % banlog) + "dry_run on\n")
r = curl(["--interface", "127.0.0.9", "--http2", "-w", " %{http_code}", g.tls_url + "/wp-login.php"])
check(r.out == "ok GET /wp-login.php\n 200" and bans()[-1]["event"] == "dry_run", "dry_run: forwarded and logged")
g.stop()
g = H2guard([up.addr], extra=(RULES % banlog).replace("ban_close reset", "ban_close fin"))
c = RawClient(g.port, tls=False, source="127.0.0.10")
c.send_raw_tcp(c.requests(["/wp-login.php"]))
n, how = c.recv_raw()
check(n == 0 and how == "eof", "ban_close fin: 0 bytes, then FIN (%s)" % how)
g.stop()
up.stop()
