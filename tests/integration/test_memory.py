"""Memory per connection under pipelining and clients that do not read.

100 HTTP/1.1 connections (100 addresses) each write 136 pipelined GETs of a
200 KB answer at once and never read; then 100 HTTP/2 connections each open
128 streams of the same answer, windows wide open, and never read.  The
upstream pool is made large (2,000) and memory_limit off, so that nothing
but the per-connection bounds holds the bytes back.  h2guard's RSS grows by
less than the bound the README states, per connection:

  HTTP/1.1: 4 requests at the upstream at once, 256 KiB of response for the
            one being answered and 64 KiB for each behind it, 256 KiB of
            output: about 0.8 MiB;
  HTTP/2:   every stream 16 KiB of response at least, the connection 1 MiB
            shared, 64 KiB of frames: about 2.1 MiB for 128 streams.

Before, 136 pipelined GETs held 25 MiB on one connection (120 at the
upstream at once).  Clients: 127.0.1.x and 127.0.2.x."""

import socket
import time

import h2.events
import h2.settings

from harness import H2guard, RawClient, Upstream, check, log, metrics, sanitized

SAN = sanitized()
N = 100
PIPELINED = 136
BODY = 200000
up = Upstream()
EXTRA = """
upstream_max_connections 2000
memory_limit off
limit client_max_connections off
limit stream_rate off
"""
g = H2guard([up.addr], tls=False, admin=True, extra=EXTRA)


def settle(what):
    """RSS in KiB once h2guard's buffers stop growing (at most 10 s)."""
    last, t_end = -1, time.time() + 10
    while time.time() < t_end:
        time.sleep(1)
        b = metrics(g).get("h2guard_buffer_bytes", 0)
        if b == last:
            break
        last = b
    rss = g.rss_kib()
    log("%s: RSS %d KiB, buffers %d bytes" % (what, rss, last))
    return rss, last


base, _ = settle("before")

# ---- HTTP/1.1 pipelining, never read --------------------------------------------
h1 = []
req = b"".join(b"GET /bytes/%d?i=%d HTTP/1.1\r\nHost: a\r\n\r\n" % (BODY, i) for i in range(PIPELINED))
for i in range(N):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("127.0.1.%d" % (i + 1), 0))
    s.connect(("127.0.0.1", g.port))
    s.sendall(req)
    h1.append(s)
rss, buffered = settle("%d HTTP/1.1 connections, %d pipelined GETs each, unread" % (N, PIPELINED))
accepted, open_ = up.conns()
per = (rss - base) / N
log("HTTP/1.1: %.0f KiB of RSS per connection, %d upstream connections open (%.1f per client connection)"
    % (per, open_, (open_ - 1) / N))
check(open_ - 1 <= 4 * N, "at most 4 requests of a connection at the upstream at once (%d for %d)" % (open_ - 1, N))
# Sanitizers keep freed memory and shadow it: RSS says nothing there.
check(SAN or per < 1024, "HTTP/1.1: RSS per connection under 1 MiB (%.0f KiB)" % per)
check(buffered / N < 900 * 1024, "HTTP/1.1: buffers per connection under 900 KiB (%d)" % (buffered // N))
for s in h1:
    s.close()
g.stop()

# A fresh h2guard: memory freed is not always given back to the system.
g = H2guard([up.addr], tls=False, admin=True, extra=EXTRA)
base, _ = settle("before")

# ---- HTTP/2, 128 streams, never read ------------------------------------------------
h2c = []
for i in range(N):
    c = RawClient(g.port, source="127.0.2.%d" % (i + 1), timeout=10)
    c.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2 ** 31 - 1})
    c.h2.increment_flow_control_window(2 ** 31 - 1 - 65535)
    c.send(c.h2.data_to_send())
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.send(c.requests(["/bytes/%d" % BODY] * 128))
    h2c.append(c)
rss, buffered = settle("%d HTTP/2 connections, 128 streams each, unread" % N)
per = (rss - base) / N
log("HTTP/2: %.0f KiB of RSS per connection" % per)
check(SAN or per < 2.5 * 1024, "HTTP/2: RSS per connection under 2.5 MiB (%.0f KiB)" % per)
check(buffered / N < 2.3 * 1024 * 1024, "HTTP/2: buffers per connection under 2.3 MiB (%d)" % (buffered // N))
for c in h2c:
    c.close()
g.stop()

# ---- HTTP/2 request heads that HPACK makes 400 times larger ---------------------------
# One 3.9 KB field, indexed once, referenced 15 times a head: 60 KB decoded
# for 15 bytes on the wire, 128 streams a connection, waiting on a slow
# upstream.  A connection holds 1 MiB of heads at most; the streams beyond
# are refused (REFUSED_STREAM), never forwarded.
M = 20
g = H2guard([up.addr], tls=False, admin=True, extra=EXTRA)
base, _ = settle("before")
big = ("x-big", "v" * 3900)
hc = []
for i in range(M):
    c = RawClient(g.port, source="127.0.3.%d" % (i + 1), timeout=10)
    for k in range(128):
        sid = c.h2.get_next_available_stream_id()
        c.h2.send_headers(sid, [(":method", "GET"), (":path", "/slow/8000"), (":scheme", "http"),
                                (":authority", "a")] + [big] * 15, end_stream=True)
    c.send(c.h2.data_to_send())
    hc.append(c)
time.sleep(2)
rss = g.rss_kib()
per = (rss - base) / M
refused = 0
for c in hc:
    c.sock.settimeout(0.5)
    try:
        while True:
            for ev in c.h2.receive_data(c.sock.recv(65536)):
                if isinstance(ev, h2.events.StreamReset) and ev.error_code == 7:
                    refused += 1
    except (OSError, Exception):
        pass
log("HTTP/2, 60 KB heads from 15 bytes: %.0f KiB of RSS per connection, %d of %d streams refused"
    % (per, refused, 128 * M))
check(SAN or per < 4 * 1024, "HTTP/2 amplified heads: RSS per connection under 4 MiB (%.0f KiB)" % per)
check(refused >= M * 100, "the streams whose heads do not fit are refused (%d)" % refused)
for c in hc:
    c.close()
g.stop()
up.stop()
