"""Bans sweeping an address's connections while h2guard stops, two workers.

A ban tears down every live connection of the banned address, on every
worker; the sweep only marks them and each is closed from its own deferred
callback, so that no connection is freed under a callback or a walk of the
connection list (the stop walks it too).  Each round opens 40 connections
from two addresses (HTTP/2 and HTTP/1.1, each with a slow request in
flight) and one legitimate connection, bans one address from the admin API
and the other from inside one of its requests, and sends SIGTERM at once.
h2guard must
exit 0 (ASan, TSan: no report), the legitimate request must be answered
(graceful stop), and none of the banned address's requests answered.

Clients: 127.0.0.1 legitimate, 127.0.0.90.. the banned addresses."""

import signal
import socket
import threading
import time

from harness import H2guard, RawClient, Upstream, admin, check, read_all, wait_for

ROUNDS = 4
CONNS = 40
up = Upstream()


def h1(src, port, path):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path).encode())
    return s


def read_to_end(s):
    """What s gets until EOF or reset (b"" for a reset), then closed."""
    try:
        d = read_all(s)
    except OSError:
        d = b""
    s.close()
    return d


for rnd in range(ROUNDS):
    src = "127.0.0.%d" % (90 + rnd)
    other = "127.0.0.%d" % (110 + rnd)
    g = H2guard([up.addr], tls=False, admin=True, extra="""
workers 2
kernel_drop off
shutdown_timeout 10s
rule trap path prefix /trap ban ttl 1m
""")
    legit = h1("127.0.0.1", g.port, "/slow/1500")
    socks, h2s = [], []
    for i in range(CONNS):
        if i % 2:
            a = src if i % 4 == 1 else other
            socks.append((a, h1(a, g.port, "/slow/3000")))
        else:
            a = src if i % 4 == 0 else other
            c = RawClient(g.port, tls=False, source=a, timeout=10)
            c.send(c.requests(["/slow/3000"]))
            h2s.append((a, c))
    # Every connection accepted, by either worker, before the ban.
    check(wait_for(lambda: up.count() >= CONNS + 1, 5), "round %d: %d requests in flight" % (rnd, CONNS + 1))
    # A request bans src: its connections are torn down, on both workers.
    trap = h1(src, g.port, "/trap")
    check(read_to_end(trap) == b"", "round %d: the banned request gets nothing" % rnd)
    # The admin API bans the other address as the stop begins: the sweep
    # and the stop's walk of the connections meet.
    res = []
    t = threading.Thread(target=lambda: res.append(admin(g, "POST", "/bans?address=%s&ttl=1m" % other)[0]))
    t.start()
    time.sleep(0.002 * rnd)
    g.proc.send_signal(signal.SIGTERM)
    t.join()
    got = dict((a, []) for a in (src, other))
    for a, s in socks:
        got[a].append(read_to_end(s))
    for a, c in h2s:
        got[a].append(read_to_end(c.sock))

    def answered(a):
        return sum(1 for d in got[a] if b" 200 " in d or b"slow" in d)
    d = read_to_end(legit)
    check(d.startswith(b"HTTP/1.1 200") and d.endswith(b"slow\n"),
          "round %d: the legitimate request in flight is answered through the stop" % rnd)
    check(answered(src) == 0 and all(d == b"" for d in got[src]),
          "round %d: none of the %d requests of %s (banned by a rule) answered, no byte sent: %s"
          % (rnd, len(got[src]), src, [len(d) for d in got[src]]))
    # The admin listener closes at the stop: a POST it did not take bans nothing.
    banned = res == [200]
    check(answered(other) == (0 if banned else len(got[other])),
          "round %d: %s %s: %d of its %d requests answered" % (rnd, other, "banned from the admin API"
                                                              if banned else "not banned (the stop came first)",
                                                              answered(other), len(got[other])))
    # The stop ends by itself (a second SIGTERM, g.stop()'s, would be the
    # one that closes everything at once, and may find h2guard exiting).
    g.proc.wait(20)
    g.stop()
    check(g.proc.returncode == 0, "round %d: h2guard exits 0 (no sanitizer report)" % rnd)
up.stop()
