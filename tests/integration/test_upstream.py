"""Upstream failures and pooling: connection refused -> 502, silence -> 504,
a pooled connection closed by the upstream -> the idempotent request is
retried once, unix socket upstreams, round robin, trailers."""

import os
import socket
import time

from harness import (H2guard, RawUpstream, Upstream, check, curl, free_port,
                     need, read_all, run, tmpdir)

import subprocess

# Nothing listens on this port: 502 with a short body, over h2 and HTTP/1.1.
dead = "127.0.0.1:%d" % free_port()
g = H2guard([dead])
for url, proto in ((g.tls_url, "--http2"), (g.url, "--http1.1"), (g.url, "--http2-prior-knowledge")):
    r = curl([proto, "-w", " %{http_code}", url + "/x"])
    check(r.out == "502 Bad Gateway\n 502", "upstream down -> 502 over %s: %r" % (proto, r.out))
g.stop()

# An upstream that accepts and never answers: 504 after upstream_response_timeout.
up = Upstream()
g = H2guard([up.addr], extra="upstream_response_timeout 1s")
t0 = time.time()
r = curl(["--http2", "-w", " %{http_code}", g.tls_url + "/silent"])
check(r.out == "504 Gateway Timeout\n 504", "silent upstream -> 504 over h2: %r" % r.out)
r = curl(["--http1.1", "-w", " %{http_code}", g.url + "/silent"])
check(r.out == "504 Gateway Timeout\n 504", "silent upstream -> 504 over HTTP/1.1")
# The other streams of the connection are not affected.
r = curl(["--http2", "-w", " %{http_code}", "--parallel", "--parallel-immediate", g.tls_url + "/silent",
          g.tls_url + "/fine"])
check("504" in r.out and "ok GET /fine" in r.out, "a 504 on one stream leaves the others served")
g.stop()
up.stop()


# At most upstream_max_connections per server: the rest wait their turn.
need("h2load")
up = Upstream()
# One worker: upstream_max_connections bounds each worker's own pool, and the
# 504 below needs the two holders and the queued request in the same one.
g = H2guard([up.addr], extra="upstream_max_connections 2\nupstream_response_timeout 2s\nworkers 1")
acc0, _ = up.conns()
r = run(["h2load", "-n", "20", "-c", "1", "-m", "20", g.url + "/slow/100"], timeout=60)
acc1, _ = up.conns()
check("20 succeeded, 0 failed" in r.out, "20 concurrent requests through 2 upstream connections all succeed")
check(acc1 - acc0 - 1 <= 2, "the upstream saw %d connections (at most 2)" % (acc1 - acc0 - 1))
# A request still waiting for a connection after upstream_response_timeout: 504.
# Two clients that never read keep both connections busy.
holders = []
for _ in range(2):
    h = socket.create_connection(("127.0.0.1", g.port))
    h.sendall(b"GET /bytes/1000000000 HTTP/1.1\r\nHost: x\r\n\r\n")
    holders.append(h)
time.sleep(0.5)
r = curl(["--http2", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", g.tls_url + "/queued"])
check(r.out.startswith("504 ") and float(r.out.split()[1]) >= 1.5,
      "a request queued behind busy connections times out with 504: %r" % r.out)
for h in holders:
    h.close()
time.sleep(0.2)
r = curl(["--http2", "-w", " %{http_code}", g.tls_url + "/after"])
check(r.out == "ok GET /after\n 200", "once they are released, requests are served again: %r" % r.out)
g.stop()
up.stop()


# A keep-alive upstream that closes a connection when a second request
# arrives on it, without answering: what a reused pooled connection meets when
# the upstream's idle timer fired just before.
def close_on_reuse(idx, nth, head):
    if nth > 1:
        return (b"", True)
    body = b"conn %d\n" % idx
    return (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body, False)


raw = RawUpstream(close_on_reuse)
# One worker: the four curls must meet the connection pooled by the one before
# them, and each worker has its own pool.
g = H2guard([raw.addr], extra="workers 1")
results = []
for i in range(4):
    r = curl(["--http1.1", "-w", " %{http_code}", g.url + "/r%d" % i])
    results.append(r.out)
check(results == ["conn %d\n 200" % (i + 1) for i in range(4)],
      "each GET that met a closed pooled connection was retried on a new one: %r" % results)
n = raw.requests
r = curl(["--http1.1", "-w", " %{http_code}", "-X", "POST", g.url + "/post"])
check(r.out == "502 Bad Gateway\n 502" and raw.requests == n + 1,
      "a POST that met a closed pooled connection is not sent twice: 502")
g.stop()


# Trailers from a chunked upstream response are passed on over h2.
def trailers(idx, nth, head):
    return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n"
            b"5\r\nhello\r\n0\r\nx-checksum: abc123\r\n\r\n", False)


raw = RawUpstream(trailers)
g = H2guard([raw.addr])
need("nghttp")
r = run(["nghttp", "-v", g.url + "/t"])
check("hello" in r.out and "x-checksum: abc123" in r.out, "trailers reach an h2 client")
r = curl(["--http1.1", "--raw", g.url + "/t"])
check("x-checksum: abc123" in r.out and "hello" in r.out, "trailers reach an HTTP/1.1 client (chunked)")
g.stop()

# Fields named by the upstream's Connection field are hop-by-hop too.
def hop(idx, nth, head):
    return (b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\n"
            b"Keep-Alive: timeout=5\r\nX-Keep: 1\r\nContent-Length: 3\r\n\r\nhi\n", False)


raw = RawUpstream(hop)
g = H2guard([raw.addr])
for url, proto in ((g.tls_url, "--http2"), (g.url, "--http1.1")):
    r = curl([proto, "-i", url + "/hop"])
    low = r.out.lower()
    check("x-keep: 1" in low and "x-hop" not in low and "keep-alive" not in low,
          "fields named in the upstream's Connection are not passed on over %s" % proto)
g.stop()


# A response cut short: the client connection closes after it, and a request
# pipelined behind it is neither answered inside it nor later.
def short(idx, nth, head):
    if b"/trunc" in head:
        return (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", True)
    return (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n", False)


raw = RawUpstream(short)
g = H2guard([raw.addr])
with socket.create_connection(("127.0.0.1", g.port), timeout=10) as s:
    s.sendall(b"GET /trunc HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
    data = read_all(s)
check(data.count(b"HTTP/1.1 ") == 1 and data.endswith(b"partial"),
      "a response cut short ends the connection; the next pipelined one is not sent: %r" % data[-80:])
g.stop()

# A slow upload that lasts longer than upstream_response_timeout succeeds:
# the upstream need not answer before the request body has been sent.  The
# first one goes on a pooled connection: the idle timeout it had while
# pooled (upstream_idle_timeout) is gone too.
up = Upstream()
# One worker: the upload must meet the connection the GET pooled, and each
# worker has its own pool.
g = H2guard([up.addr], extra="upstream_response_timeout 1s\nupstream_idle_timeout 1s\nworkers 1")
body = os.path.join(tmpdir(), "slow-body")
with open(body, "wb") as f:
    f.write(b"u" * 300000)
acc0, _ = up.conns()
check(curl([g.url + "/pool-one"]).out == "ok GET /pool-one\n", "a GET leaves a pooled upstream connection")
for url, proto in ((g.url, "--http1.1"), (g.tls_url, "--http2")):
    r = curl([proto, "--limit-rate", "150K", "--data-binary", "@" + body, "-o", "/dev/null",
              "-w", "%{http_code} %{size_download} %{time_total}", url + "/echo"])
    code, size, secs = r.out.split()
    check(code == "200" and size == "300000" and float(secs) > 1.5,
          "a %.1f s upload over %s with a 1 s upstream_response_timeout is echoed" % (float(secs), proto))
    if proto == "--http1.1":
        acc1, _ = up.conns()
        # Opened: the GET's and the one conns() itself made.
        check(acc1 - acc0 == 2, "the first upload used the pooled connection (%d opened)" % (acc1 - acc0 - 1))
g.stop()
up.stop()

# Unix socket upstream and round robin over two servers.
sock = os.path.join(tmpdir(), "up.sock")
p = subprocess.Popen([os.environ.get("H2GUARD_UPSTREAM"), "--unix", sock], stdout=subprocess.PIPE)
check(p.stdout.readline().startswith(b"READY"), "unix socket upstream started")
up = Upstream()
# One worker: each worker's pool goes round robin on its own, so 5 of 10 holds
# only for the requests of one.
g = H2guard(["unix:" + sock, up.addr], extra="workers 1")
up.count(reset=True)
for i in range(10):
    r = curl(["--http2", g.tls_url + "/rr%d" % i])
    check(r.out == "ok GET /rr%d\n" % i, "request %d answered" % i)
check(up.count() == 5, "round robin: the TCP upstream got 5 of 10 requests, the unix one the rest")
g.stop()
up.stop()
p.terminate()
p.wait()
