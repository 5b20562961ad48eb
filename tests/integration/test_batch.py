"""The read is the batch: 100 requests and one banned request written in
ONE write (12 KB to 240 KB: many reads of the socket, many TLS records),
over h2c, TLS h2, HTTP/1.1 and HTTP/1.1 over TLS, the banned one last or
in the middle.  Not one of the 100 siblings may reach the upstream (it
counts what it receives), not one byte may come back, and the connection
is reset.  The same batches without the banned request are answered in
full: holding a batch until the socket is empty must not stall it.

Clients: 127.0.0.3 is the attacker, 127.0.0.1 the legitimate one."""

import json
import os
import time

import h2.events

from harness import H2guard, RawClient, Upstream, check, tmpdir

banlog = os.path.join(tmpdir(), "ban.log")
up = Upstream()
g = H2guard([up.addr], extra="""
kernel_drop off
ban_close reset
ban_log %s
rule wp path prefix /wp-login.php ban
""" % banlog)

SIBLINGS = 100
# Batches of about 3 KB (no pad), 100 KB and 240 KB: under the 256 KiB bound
# of a batch.
SIZES = (0, 100000, 240000)
WHERE = ("last", "middle")
REPEAT = 3


def pad(i, n):
    """n bytes unique to request i: HPACK can neither index them away nor
    Huffman-code them shorter (these bytes have long codes)."""
    s = ("%06d" % i).translate(str.maketrans("0123456789", "^|~{}<>\\`X")) * (n // 6 + 1)
    return s[:n]


def paths(where):
    p = ["/ok/%d" % i for i in range(SIBLINGS)]
    p.insert(SIBLINGS if where == "last" else SIBLINGS // 2, "/wp-login.php")
    return p


def h2_batch(c, ps, n):
    for i, p in enumerate(ps):
        sid = c.h2.get_next_available_stream_id()
        hdrs = [(":method", "GET"), (":path", p), (":scheme", "https" if c.tls else "http"),
                (":authority", "localhost"), ("user-agent", "test")]
        if n:
            hdrs.append(("x-pad", pad(i, n)))
        c.h2.send_headers(sid, hdrs, end_stream=True)
    return c.h2.data_to_send()


def h1_batch(ps, n):
    out = b""
    for i, p in enumerate(ps):
        out += ("GET %s HTTP/1.1\r\nHost: a\r\n%s\r\n" % (p, "X-Pad: %s\r\n" % pad(i, n) if n else "")).encode()
    return out


class Sizer:
    """Encodes HTTP/2 requests like RawClient, into nothing: for sizes."""

    def __init__(self):
        import h2.config
        import h2.connection
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self.h2.data_to_send()
        self.tls = False


def pad_for(is_h2, size):
    """The pad per request that makes a batch about size bytes."""
    if size == 0:
        return 0
    n = len(h2_batch(Sizer(), paths("last"), 1000)) if is_h2 else len(h1_batch(paths("last"), 1000))
    return int(1000 * size / n)


def bans():
    with open(banlog) as f:
        return [json.loads(line) for line in f if line.strip()]


leaks = []
for proto in ("h2c", "h2 TLS", "http/1.1", "http/1.1 TLS"):
    tls, is_h2 = proto.endswith("TLS"), proto.startswith("h2")
    for size in SIZES:
        n = pad_for(is_h2, size)
        for where in WHERE:
            for rep in range(REPEAT):
                up.count(reset=True)
                c = RawClient(g.tls_port if tls else g.port, tls=tls, h2=is_h2, source="127.0.0.3")
                data = h2_batch(c, paths(where), n) if is_h2 else h1_batch(paths(where), n)
                c.send_raw_tcp(data)
                got, how = c.recv_raw()
                c.close()
                time.sleep(0.05)
                leaked = up.count()
                leaks.append(leaked)
                check(got == 0 and how == "reset" and leaked == 0,
                      "%s, %d+1 requests in one write of %d bytes, the banned one %s: %d bytes back, %s, "
                      "%d siblings forwarded" % (proto, SIBLINGS, len(data), where, got, how, leaked))
check(sum(leaks) == 0, "sibling leak over %d batches: %d" % (len(leaks), sum(leaks)))
# Parsing stops at the banned request: the siblings before it are counted.
b = bans()
check(len(b) == len(leaks) and all(e["upstream_cancelled"] == 0 and e["siblings_dropped"] >= SIBLINGS // 2
                                   for e in b) and sum(e["siblings_dropped"] == SIBLINGS for e in b) >= len(b) // 2,
      "one ban line per batch, its siblings dropped (all 100 when it came last), no upstream request to cancel")

# The answer to an earlier request arriving while a batch is being read (its
# bytes come in many reads) does not end the batch.
for proto in ("h2c", "http/1.1", "http/1.1 TLS"):
    tls, is_h2 = proto.endswith("TLS"), proto.startswith("h2")
    for rep in range(5):
        c = RawClient(g.tls_port if tls else g.port, tls=tls, h2=is_h2, source="127.0.0.4")
        first = h2_batch(c, ["/first"], 0) if is_h2 else h1_batch(["/first"], 0)
        data = h2_batch(c, paths("last"), pad_for(is_h2, 240000)) if is_h2 else \
            h1_batch(paths("last"), pad_for(is_h2, 240000))
        up.count(reset=True)
        c.send_raw_tcp(first)
        time.sleep(0.002 * rep)
        c.send_raw_tcp(data)
        c.recv_raw()
        c.close()
        time.sleep(0.05)
        leaked = up.count()
        leaks.append(max(0, leaked - 1))
        check(leaked <= 1, "%s: a request, %d ms, then 100+1 in one write of %d bytes: %d siblings forwarded"
              % (proto, 2 * rep, len(data), max(0, leaked - 1)))

# A whole connection in one write (preface, SETTINGS, a PING, 100 requests
# and a banned one, over 4 KiB): not a byte back, not the SETTINGS ack nor
# the PING ack of what came before the banned request.
import socket  # noqa: E402
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
for size in (20000, 200000):
    h = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    h.initiate_connection()
    h.ping(b"12345678")

    class Conn:
        pass
    cc = Conn()
    cc.h2, cc.tls = h, False
    data = h2_batch(cc, paths("last"), pad_for(True, size))
    up.count(reset=True)
    sk = socket.socket()
    sk.bind(("127.0.0.6", 0))
    sk.settimeout(5)
    sk.connect(("127.0.0.1", g.port))
    sk.sendall(data)
    got, how = 0, "eof"
    try:
        while True:
            d = sk.recv(65536)
            if not d:
                break
            got += len(d)
    except ConnectionResetError:
        how = "reset"
    sk.close()
    time.sleep(0.05)
    leaked = up.count()
    leaks.append(leaked)
    check(got == 0 and how == "reset" and leaked == 0,
          "h2c: preface, SETTINGS, PING and 100+1 requests in one write of %d bytes: %d bytes back, %s, "
          "%d forwarded" % (len(data), got, how, leaked))

# The same with HTTP/1.1 requests of exactly 4096 bytes, libevent's read:
# every read ends between two requests, and the answer to a slow request
# sent just before comes in while the batch is read.
def h1_aligned(ps):
    out = b""
    for i, p in enumerate(ps):
        head = "GET %s HTTP/1.1\r\nHost: a\r\nX-Pad: " % p
        out += (head + "x" * (4096 - len(head) - 4) + "\r\n\r\n").encode()
    return out


for rep in range(8):
    c = RawClient(g.port, h2=False, source="127.0.0.5")
    data = h1_aligned(["/ok/%d" % i for i in range(60)] + ["/wp-login.php"])
    up.count(reset=True)
    c.send_raw_tcp(b"GET /slow/%d HTTP/1.1\r\nHost: a\r\n\r\n" % (1 + rep))
    time.sleep(0.001)
    c.send_raw_tcp(data)
    c.recv_raw()
    c.close()
    time.sleep(0.05)
    leaked = up.count()
    leaks.append(max(0, leaked - 1))
    check(leaked <= 1, "http/1.1, 4096-byte requests, an answer coming in %d ms into the batch: %d siblings "
          "forwarded" % (1 + rep, max(0, leaked - 1)))

# The same batches, nothing banned: every request answered, in one read
# loop or many.
for proto in ("h2c", "h2 TLS", "http/1.1", "http/1.1 TLS"):
    tls, is_h2 = proto.endswith("TLS"), proto.startswith("h2")
    for size in SIZES:
        n = pad_for(is_h2, size)
        up.count(reset=True)
        c = RawClient(g.tls_port if tls else g.port, tls=tls, h2=is_h2)
        ps = ["/ok/%d" % i for i in range(SIBLINGS)]
        if is_h2:
            c.send_raw_tcp(h2_batch(c, ps, n))
            ended = 0
            deadline = time.time() + 20
            while ended < SIBLINGS and time.time() < deadline:
                for ev in c.h2.receive_data(c.recv()):
                    if isinstance(ev, h2.events.StreamEnded):
                        ended += 1
                    elif isinstance(ev, h2.events.DataReceived):
                        c.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                c.send(c.h2.data_to_send())
            answered = ended
        else:
            c.send_raw_tcp(h1_batch(ps, n))
            buf = b""
            deadline = time.time() + 20
            while buf.count(b"HTTP/1.1 200") < SIBLINGS and time.time() < deadline:
                buf += c.recv()
            answered = buf.count(b"HTTP/1.1 200")
            check(b"ok GET /ok/0\n" in buf and buf.index(b"/ok/0\n") < buf.index(b"/ok/99\n"),
                  "%s: the answers come in request order" % proto)
        c.close()
        check(answered == SIBLINGS and up.count() == SIBLINGS,
              "%s, %d requests in one write (%d pad bytes each), nothing banned: %d answered"
              % (proto, SIBLINGS, n, answered))
g.stop()
up.stop()
