"""Forwarding with real clients: curl over TLS (h2, http/1.1), h2c with nghttp
and curl, HTTP/1.1 keep-alive and pipelining, request and response headers,
HEAD / 204 / 304, request bodies (Content-Length and chunked), IPv6."""

import socket
import ssl

from harness import H2guard, RawClient, Upstream, check, curl, need, read_all, run

need("curl")
up = Upstream()
g = H2guard([up.addr], ipv6=True)

# HTTP/2 over TLS, ALPN h2.
r = curl(["--http2", "-w", "\n%{http_version}", g.tls_url + "/hello"])
check(r.out == "ok GET /hello\n\n2", "curl --http2 over TLS gets the upstream's answer over h2: %r" % r.out)

# HTTP/1.1 over TLS (ALPN http/1.1).
r = curl(["--http1.1", "-w", "\n%{http_version}", g.tls_url + "/one"])
check(r.out == "ok GET /one\n\n1.1", "curl --http1.1 over TLS is served HTTP/1.1: %r" % r.out)

# A TLS client offering no ALPN at all is served HTTP/1.1.
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with socket.create_connection(("127.0.0.1", g.tls_port), timeout=5) as raw:
    with ctx.wrap_socket(raw) as s:
        s.sendall(b"GET /noalpn HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = read_all(s)
check(data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"ok GET /noalpn\n"),
      "TLS without ALPN is HTTP/1.1")

# h2c prior knowledge: curl and nghttp.
r = curl(["--http2-prior-knowledge", "-w", "\n%{http_version}", g.url + "/h2c"])
check(r.out == "ok GET /h2c\n\n2", "curl --http2-prior-knowledge (h2c) works: %r" % r.out)
need("nghttp")
r = run(["nghttp", "-v", g.url + "/nghttp"])
check("ok GET /nghttp" in r.out and "recv SETTINGS" in r.out, "nghttp h2c prior knowledge works")

# HTTP/1.1 clear text, keep-alive: several requests on one connection.
up.count(reset=True)
r = curl(["--http1.1", "-v", g.url + "/a", g.url + "/b", g.url + "/c"])
check(r.out == "ok GET /a\nok GET /b\nok GET /c\n", "three HTTP/1.1 requests answered")
check(r.err.count("Re-using existing connection") == 2 or r.err.count("Reusing existing connection") >= 2,
      "curl reused the client connection (keep-alive)")
check(up.count() == 3, "the upstream received the three requests")

# Upstream keep-alive: sequential requests reuse the pooled upstream connection.
acc0, _ = up.conns()
for i in range(5):
    curl([g.url + "/seq%d" % i])
acc1, _ = up.conns()
check(acc1 - acc0 <= 2, "five sequential requests used the upstream pool (%d new upstream connections)" % (acc1 - acc0 - 1))

# Pipelining: three requests in one write, answered in order.
with socket.create_connection(("127.0.0.1", g.port), timeout=10) as s:
    s.sendall(b"GET /slow/300 HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /p2 HTTP/1.1\r\nHost: x\r\n\r\n"
              b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
    data = read_all(s)
parts = data.split(b"HTTP/1.1 200 OK")
check(len(parts) == 4 and parts[1].endswith(b"slow\n") and parts[2].endswith(b"ok GET /p2\n")
      and parts[3].endswith(b"hello"), "pipelined requests answered in order, then closed: %r" % data[-200:])

# More pipelined requests than h2guard queues at once (32): all answered.
with socket.create_connection(("127.0.0.1", g.port), timeout=10) as s:
    s.sendall(b"".join(b"GET /pipe%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(99))
              + b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = read_all(s)
check(data.count(b"HTTP/1.1 200 OK") == 100 and data.endswith(b"ok GET /last\n"),
      "100 pipelined requests in one write: 100 answers in order")

# Absolute-form request target: the URL's host is the authority.
with socket.create_connection(("127.0.0.1", g.port), timeout=10) as s:
    s.sendall(b"GET http://example.test:81/headers?q=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n")
    data = read_all(s).lower()
check(b"uri: /headers?q=1\n" in data and b"host: example.test:81\n" in data,
      "absolute-form target forwarded in origin form with the URL's host")

# An HTTP/2 CONNECT is refused, not forwarded.
c = RawClient(g.port)
up.count(reset=True)
c.h2.config.validate_outbound_headers = False
c.h2.send_headers(1, [(":method", "CONNECT"), (":authority", "example.test:443")], end_stream=True)
c.send(c.h2.data_to_send())
import h2.events  # noqa: E402
status = None
while status is None:
    for ev in c.h2.receive_data(c.recv()):
        if isinstance(ev, h2.events.ResponseReceived):
            status = dict(ev.headers)[b":status"]
c.close()
check(status == b"405" and up.count() == 0, "h2 CONNECT answered 405, nothing forwarded")

# Request headers as the upstream sees them.
r = curl(["--http2", "-H", "Connection: keep-alive", "-H", "X-Forwarded-For: 6.6.6.6",
          "-H", "Cookie: a=1", "-H", "Cookie: b=2", "-H", "X-Custom: yes", g.tls_url + "/headers"])
hdrs = r.out.lower()
check("host: 127.0.0.1:%d" % g.tls_port in hdrs, "Host comes from :authority")
check("x-forwarded-for: 127.0.0.1\n" in hdrs and "6.6.6.6" not in hdrs, "X-Forwarded-For is the client address")
check("x-forwarded-proto: https\n" in hdrs, "X-Forwarded-Proto is https over TLS")
check("x-custom: yes\n" in hdrs, "other fields are forwarded")
check("cookie: a=1; b=2\n" in hdrs, "h2 cookies are joined into one field")
r = curl(["--http1.1", "-H", "Connection: close, X-Drop", "-H", "X-Drop: 1", "-H", "Keep-Alive: 5",
          "-H", "Upgrade: foo", g.url + "/headers"])
hdrs = r.out.lower()
check("x-drop" not in hdrs and "keep-alive" not in hdrs and "upgrade" not in hdrs
      and "connection: close" not in hdrs, "hop-by-hop fields are not forwarded")
check("x-forwarded-proto: http\n" in hdrs, "X-Forwarded-Proto is http in clear text")

# Response: HEAD, 204, 304, status codes, hop-by-hop response fields removed.
for url, proto in ((g.tls_url, "--http2"), (g.url, "--http1.1")):
    r = curl([proto, "-I", url + "/bytes/1000?cl=1"])
    check(r.out.split("\r\n")[0].split()[1] == "200" and "content-length: 1000" in r.out.lower(),
          "HEAD %s keeps Content-Length, no body" % proto)
    r = curl([proto, "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url + "/status/204"])
    check(r.out == "204 0", "204 without body over %s" % proto)
    r = curl([proto, "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url + "/status/304"])
    check(r.out == "304 0", "304 without body over %s" % proto)
    r = curl([proto, "-w", " %{http_code}", url + "/status/404"])
    check(r.out == "status 404\n 404", "404 passed through over %s" % proto)

# Request bodies: Content-Length and chunked, h2 and HTTP/1.1.
body = "x" * 100000
for args in (["--http2", g.tls_url], ["--http2-prior-knowledge", g.url], ["--http1.1", g.url]):
    r = curl([args[0], "--data-binary", body, args[1] + "/echo"])
    check(r.out == body, "POST with Content-Length echoed over %s" % args[0])
r = curl(["--http1.1", "-H", "Transfer-Encoding: chunked", "--data-binary", body, g.url + "/echo"])
check(r.out == body, "chunked HTTP/1.1 request body echoed")
r = curl(["--http2", "-H", "Content-Length:", "--data-binary", body, g.tls_url + "/echo"])
check(r.out == body, "h2 request body without content-length echoed")
r = curl(["--http1.1", "-H", "Expect: 100-continue", "--data-binary", body, g.url + "/echo"])
check(r.out == body, "Expect: 100-continue handled")

# IPv6 listener.
r = curl(["--http2-prior-knowledge", "http://[::1]:%d/v6" % g.port6])
check(r.out == "ok GET /v6\n", "IPv6 listener serves h2c")

# An HTTP/2 connection idle for a second gives the pages of nghttp2's frame
# buffer back (h2/mem.h); they come back zeroed.  Served as before after
# that, more than once (a PING answered while idle, HPACK state kept).
import time  # noqa: E402
import h2.events  # noqa: E402
for tls in (True, False):
    rc = RawClient(g.tls_port if tls else g.port, tls=tls)
    first = rc.get("/idle1")
    time.sleep(1.5)
    rc.h2.ping(b"idlepong")
    rc.send(rc.h2.data_to_send())
    got_ack = False
    while not got_ack:
        for ev in rc.h2.receive_data(rc.recv()):
            got_ack = got_ack or (isinstance(ev, h2.events.PingAckReceived) and ev.ping_data == b"idlepong")
    time.sleep(1.5)
    second = rc.get("/idle2")
    time.sleep(1.5)
    third = rc.get("/idle2")
    check(first == (200, b"ok GET /idle1\n") and second == (200, b"ok GET /idle2\n") and third == second,
          "an idle %s connection answers a PING and serves again after its buffer was trimmed: %r %r %r"
          % ("TLS h2" if tls else "h2c", first, second, third))
    rc.close()

g.stop()
up.stop()
