"""Connection caps: limit client_max_connections (connections of one client
address open at once; one more is closed right after accept(), like
client_conn_rate) and max_connections (all clients together; at the cap a
new connection is closed and the worker stops accepting until one closes,
or 100 ms).  Both counted in h2guard_accept_drops_total.

Clients: 127.0.0.40 holds idle connections, 127.0.0.41 and 127.0.0.1 are
others."""

import socket
import time

from harness import H2guard, Upstream, check, metrics, wait_for

up = Upstream()


def conn(g, src):
    s = socket.socket()
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", g.port))
    return s


def served(s):
    """One keep-alive request on s: True when answered 200."""
    try:
        s.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        return s.recv(4096).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def refused(g, src):
    """True when h2guard closes a new connection from src without a byte
    (reset or EOF, maybe before connect() returns)."""
    try:
        s = conn(g, src)
        s.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        d = s.recv(4096)
        s.close()
        return d == b""
    except OSError:
        return True


# ---- client_max_connections ----------------------------------------------------
g = H2guard([up.addr], tls=False, admin=True, extra="kernel_drop off\nlimit client_max_connections 5\n")
held = [conn(g, "127.0.0.40") for i in range(5)]
check(all(served(s) for s in held), "5 connections of 127.0.0.40 open and served")
check(all(refused(g, "127.0.0.40") for i in range(3)), "the 6th, 7th and 8th are closed at accept, nothing written")
check(served(conn(g, "127.0.0.41")), "another address is served meanwhile")
check(all(served(s) for s in held), "the 5 held are still served")
for s in held[:2]:
    s.close()
time.sleep(0.2)
again = [conn(g, "127.0.0.40") for i in range(2)]
check(all(served(s) for s in again), "two closed: two new ones of 127.0.0.40 accepted")
check(refused(g, "127.0.0.40"), "and the next one closed again")
m = metrics(g)
check(m.get('h2guard_accept_drops_total{reason="client_max_connections"}') == 4,
      "accept_drops_total{reason=client_max_connections} counts 4: %s"
      % m.get('h2guard_accept_drops_total{reason="client_max_connections"}'))
check(g.log().count("flood limit client_max_connections crossed") == 1, "one log line for the window")
for s in held + again:
    s.close()
g.stop()

# ---- max_connections ------------------------------------------------------------
g = H2guard([up.addr], tls=False, admin=True,
            extra="kernel_drop off\nmax_connections 10\nlimit client_max_connections off\n")
# The harness's probe of the port is closed first.
check(wait_for(lambda: metrics(g).get("h2guard_connections_open") == 0, 5), "no connection open")
held = [conn(g, "127.0.0.%d" % (50 + i)) for i in range(10)]
check(all(served(s) for s in held), "10 connections open (max_connections 10), from 10 addresses")
check(refused(g, "127.0.0.41"), "the 11th, from another address, is closed at accept")
check(wait_for(lambda: "max_connections reached: not accepting for now" in g.log(), 3),
      "one warning: the worker stops accepting")
held.pop().close()
s = None
for attempt in range(20):
    s = conn(g, "127.0.0.1")
    if served(s):
        break
    s.close()
    time.sleep(0.1)
check(served(s), "one closed: a new connection is served again")
check(metrics(g).get('h2guard_accept_drops_total{reason="max_connections"}', 0) >= 1,
      "accept_drops_total{reason=max_connections} counts the drop")
for x in held + [s]:
    x.close()
g.stop()
up.stop()
