"""Flood limits at their edges: regressions from a review, one check each.

Attacks that used to slip past a limit, and legitimate clients that used to
trip one or stall:

 1. zero window, and a PING every 0.5 s (whose ACKs the client reads):
    still torn down by send_timeout (control frames are no progress);
 2. a client that never reads a byte of a big response but sends a new
    header block (HEADERS, then CONTINUATION) every second: still torn down
    by send_timeout (new streams and their heads do not restart it);
 3. HTTP/1.1 slow read with a pipelined POST whose body trickles a byte a
    second: still torn down by send_timeout;
 4. one HEADERS frame (END_HEADERS set) whose payload trickles in: torn
    down by header_timeout;
 5. unknown extension frames (type 0xfa, empty) count as empty frames
    (empty_frame_rate); HEADERS on a closed stream nghttp2 has forgotten
    count as stream errors (stream_error_rate);
 6. data dribble: 1-byte windows re-granted after each 1-byte DATA frame
    cross window_update_rate within a bounded number of frames;
 7. five concurrent 2 MB downloads read one at a time, the window granted
    only to the stream being read (64 KiB stream windows): all complete
    (the others' buffered responses never pause the one read), no ban;
 8. the same, the client giving up (RST_STREAM) on all but the first
    download while that one is blocked: it completes;
 9. 40 pipelined HTTP/1.1 requests to a slow upstream (1 s each, 4 at the
    upstream at a time: 10 s) under header_timeout 2s: all answered
    (queued heads are not slowloris), no ban;
10. a Go-like client (4 MiB stream window, a stream and a connection
    WINDOW_UPDATE per DATA frame) downloading 50 MB with the default
    window_update_rate, reading as fast as it can and pausing between
    reads: completes, no ban;
11. flood_ban_ttl: a flood (and client_conn_rate) bans the address for
    the ttl: its other connections torn down, new ones closed at accept,
    served again after it.

Each attack and client comes from its own address 127.0.0.N; bans are
looked up in the ban log by that address and the connection's port.  The
timeout checks (1-4 and 9) run concurrently.  Checks do not stop at the
first failure: every FAIL line is listed at the end, and the exit status is
1 if there was one (77: python3-hyperframe / python3-hpack missing).  Under
AddressSanitizer waits and bounds get more slack.

  H2GUARD_BIN=build/h2guard H2GUARD_UPSTREAM=build/tests/upstream/h2guard-upstream \
  H2GUARD_SRCDIR=. PYTHONPATH=tests/integration /usr/bin/python3 tests/integration/test_flood_edges.py
"""

import json
import math
import os
import socket
import struct
import sys
import threading
import time
import traceback
from collections import Counter

from harness import H2guard, Upstream, log, pattern, sanitized, skip, tmpdir

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "flood"))
try:
    import h2flood  # noqa: E402
    from h2flood import F_END_STREAM, F_PADDED, SETTINGS_INITIAL_WINDOW_SIZE, FloodConn  # noqa: E402
except ImportError as e:
    skip("tests/flood/h2flood.py needs python3-hyperframe and python3-hpack: %s" % e)

ASAN = sanitized()
SLOW = 4 if ASAN else 1             # ASan: everything slower, waits longer
EXTRA = 4 if ASAN else 0            # ASan: seconds more for a timeout to fire
TIMEOUT = 2                         # send_timeout, header_timeout (seconds)
T_START = time.time()

failures = []


def ok(cond, msg):
    """A check that does not stop the test."""
    if cond:
        log("ok: " + msg)
    else:
        log("FAIL: " + msg)
        failures.append(msg)
    return cond


class BanLog:
    def __init__(self, path):
        self.path = path

    def entries(self):
        try:
            with open(self.path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def of(self, client, port=None, wait=1.0):
        """Entries for client (and port), waiting up to `wait` s for one."""
        deadline = time.time() + wait * SLOW
        while True:
            new = [e for e in self.entries() if e.get("client") == client and
                   (port is None or e.get("port") == port)]
            if new or time.time() >= deadline:
                return new
            time.sleep(0.05)

    def names(self, client, port=None, wait=1.0):
        return [(e.get("event"), e.get("limit"), e.get("protocol")) for e in self.of(client, port, wait)]


def banned(bl, src, port, limit, protocol):
    """(True when a ban line names limit for this connection, what was found)."""
    got = bl.names(src, port)
    return ("ban", limit, protocol) in got, got or "none"


def no_ban(bl, src):
    got = bl.names(src, wait=0.3)
    return got == [], got or "none"


def slack(limit, seconds):
    """Extra events a sliding-window rate n/w may let through in `seconds`
    (two fixed buckets estimate the window: see test_floods.py)."""
    n, w = limit
    return int(math.ceil(n * seconds / w)) + 1


_next = [100]


def source():
    _next[0] += 1
    return "127.0.0.%d" % _next[0]


def proto(tls):
    return "TLS" if tls else "h2c"


def raw_frame(ftype, flags, sid, body=b""):
    """Any frame, unknown types too."""
    return struct.pack("!I", len(body))[1:] + bytes([ftype, flags]) + struct.pack("!I", sid) + body


up = Upstream()
# S: send_timeout 2s (slow readers).  H: header_timeout 2s, body_read_timeout
# 5s (slow heads), every flood limit at its default.
ban_s = BanLog(os.path.join(tmpdir(), "edges-ban-s.log"))
ban_h = BanLog(os.path.join(tmpdir(), "edges-ban-h.log"))
S = H2guard([up.addr], extra="ban_log %s\nsend_timeout %ds\n" % (ban_s.path, TIMEOUT))
H = H2guard([up.addr], extra="ban_log %s\nheader_timeout %ds\nbody_read_timeout 5s\n" % (ban_h.path, TIMEOUT))
DEFAULT_EMPTY_FRAME_RATE = (100, 10.0)
DEFAULT_STREAM_ERROR_RATE = (100, 10.0)
DEFAULT_WINDOW_UPDATE_RATE = (1000, 10.0)


def port_of(inst, tls):
    return inst.tls_port if tls else inst.port


# ---------------------------------------------------------------------------
# The timeouts, run concurrently.  Each job returns a dict of what it saw;
# the checks come after, in the main thread.

def zero_window_ping(tls, src):
    """1: SETTINGS_INITIAL_WINDOW_SIZE 0, never a WINDOW_UPDATE, a PING
    every 0.5 s and everything read (the PING ACKs too)."""
    c = FloodConn(port_of(S, tls), tls=tls, source=src, settings={SETTINGS_INITIAL_WINDOW_SIZE: 0},
                  window_bump=0, auto_window=False)
    c.request("/bytes/4000000")
    t0 = time.time()
    deadline = t0 + TIMEOUT + 6 + EXTRA
    pings = 0
    while not c.end and time.time() < deadline and pings < 100:
        if c.send(h2flood.f_ping(b"%08d" % pings)):
            pings += 1
        c.settle(0.5)
    r = dict(end=c.end, after=(c.end_time or time.time()) - t0, pings=pings, received=dict(c.received),
             port=c.local_port)
    c.close()
    return r


def header_cycle(tls, src):
    """2: never reads (SO_RCVBUF 4096) a 50 MB response; every ~1 s a new
    stream whose header block is split: HEADERS without END_HEADERS, then
    0.3 s later CONTINUATION with END_HEADERS."""
    c = FloodConn(port_of(S, tls), tls=tls, source=src, rcvbuf=4096)
    c.request("/bytes/50000000")
    t0 = time.time()
    deadline = t0 + TIMEOUT + 8 + EXTRA
    blocks = 0
    while blocks < 50 and time.time() < deadline and c.poll_end_unread(0.7) == "timeout":
        sid = c.new_stream()
        blk = c.request_block("/cycle/%d" % blocks)
        if not c.send(h2flood.f_headers(sid, blk[:3], end_stream=True, end_headers=False)):
            break
        if c.poll_end_unread(0.3) != "timeout":
            break
        if not c.send(h2flood.f_continuation(sid, blk[3:], end_headers=True)):
            break
        blocks += 1
    r = dict(end=c.end, after=(c.end_time or time.time()) - t0, blocks=blocks, port=c.local_port)
    c.close()
    return r


def h1_slow_read_trickle(src):
    """3: HTTP/1.1 GET /bytes/50000000 never read (SO_RCVBUF 4096), then a
    pipelined POST whose body trickles one byte a second."""
    c = FloodConn(S.port, source=src, rcvbuf=4096, h2=False)
    t0 = time.time()
    c.send(b"GET /bytes/50000000 HTTP/1.1\r\nHost: a\r\n\r\n")
    c.poll_end_unread(0.5)
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
    deadline = t0 + TIMEOUT + 8 + EXTRA
    trickled = 0
    while not c.end and time.time() < deadline and trickled < 1000:
        if not c.send(b"x"):
            break
        trickled += 1
        c.poll_end_unread(1.0)
    r = dict(end=c.end, after=(c.end_time or time.time()) - t0, trickled=trickled, port=c.local_port)
    c.close()
    return r


def trickle_headers(tls, src):
    """4: ONE HEADERS frame (END_STREAM, END_HEADERS) of ~3 KB whose payload
    arrives 2 bytes every 0.25 s."""
    c = FloodConn(port_of(H, tls), tls=tls, source=src)
    sid = c.new_stream()
    blk = c.request_block("/trickle", extra=[("x-pad", "a" * 3000)])
    fr = h2flood.f_headers(sid, blk, end_stream=True, end_headers=True)
    t0 = time.time()
    c.send(fr[:9 + 5])              # the frame header and a few bytes of the block
    k = 14
    deadline = t0 + TIMEOUT + 6 + EXTRA
    while not c.end and k < len(fr) and time.time() < deadline:
        c.settle(0.25)
        if not c.end and c.send(fr[k:k + 2]):
            k += 2
    r = dict(end=c.end, after=(c.end_time or time.time()) - t0, sent=k, size=len(fr),
             received=dict(c.received), port=c.local_port)
    c.close()
    return r


def read_h1_responses(sock, want, deadline):
    """Reads HTTP/1.1 responses (Content-Length bodies) until `want` of
    them, EOF, an error or the deadline: returns ([(status, body)], how)."""
    buf = b""
    out = []
    while len(out) < want and time.time() < deadline:
        while True:                 # whole responses in buf
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = buf[:head_end].decode("latin-1")
            lines = head.split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(buf) < head_end + 4 + length:
                break
            parts = lines[0].split()
            out.append((int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0,
                        buf[head_end + 4:head_end + 4 + length]))
            buf = buf[head_end + 4 + length:]
        if len(out) >= want:
            return out, "done"
        sock.settimeout(max(0.05, min(1.0, deadline - time.time())))
        try:
            d = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError as e:
            return out, "error %r" % e
        if not d:
            return out, "eof"
        buf += d
    return out, "done" if len(out) >= want else "timeout"


def pipeline(src):
    """9: 40 pipelined GET /slow/1000 with ~470-byte heads, one write."""
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", H.port))
    port = s.getsockname()[1]
    pad = "c" * 420
    reqs = b"".join(("GET /slow/1000?i=%d HTTP/1.1\r\nHost: a\r\nCookie: %s\r\n\r\n" % (i, pad)).encode()
                    for i in range(40))
    t0 = time.time()
    s.sendall(reqs)
    got, how = read_h1_responses(s, 40, t0 + 25 * SLOW)
    r = dict(got=got, how=how, seconds=time.time() - t0, head=len(reqs) // 40, port=port)
    s.close()
    return r


log("== timeouts (send_timeout %ds on one instance, header_timeout %ds on another), concurrently"
    % (TIMEOUT, TIMEOUT))
jobs = []
for tls in (False, True):
    jobs.append(("zero_window_ping", tls, source(), zero_window_ping))
    jobs.append(("header_cycle", tls, source(), header_cycle))
    jobs.append(("trickle_headers", tls, source(), trickle_headers))
jobs.append(("h1_slow_read_trickle", None, source(), lambda tls, src: h1_slow_read_trickle(src)))
jobs.append(("pipeline", None, source(), lambda tls, src: pipeline(src)))
results = {}


def run_job(j):
    name, tls, src, fn = j
    try:
        results[(name, tls)] = fn(tls, src)
    except Exception:
        results[(name, tls)] = {"exc": traceback.format_exc()}


threads = [threading.Thread(target=run_job, args=(j,), daemon=True) for j in jobs]
for t in threads:
    t.start()
for t in threads:
    t.join(60 * SLOW)

for name, tls, src, _ in jobs:
    what = "%s %s from %s" % ("HTTP/1.1" if tls is None else proto(tls), name, src)
    r = results.get((name, tls))
    if r is None or "exc" in r:
        ok(False, "%s: the client raised or hung\n%s" % (what, (r or {}).get("exc", "(still running)")))
        continue
    log("-- %s: %s" % (what, {k: v for k, v in r.items() if k != "got"}))
    if name == "zero_window_ping":
        bound = TIMEOUT + 1.5 + EXTRA
        ok(r["end"] == "reset" and r["after"] <= bound,
           "%s: reset %.1f s after the request (send_timeout %ds, at most %.1f s) though it read the ACKs of "
           "%d PINGs: %s" % (what, r["after"], TIMEOUT, bound, r["pings"], r["end"]))
        acks = r["received"].get("PING", 0)
        ok(acks >= 2 and r["received"].get("DATA", 0) == 0 and r["received"].get("GOAWAY", 0) == 0,
           "%s: the PINGs were answered (%d ACKs) and no DATA went past the zero window, no GOAWAY: %s"
           % (what, acks, r["received"]))
        hit, got = banned(ban_s, src, r["port"], "send_timeout", "h2")
        ok(hit, "%s: ban log names send_timeout (got %s)" % (what, got))
    elif name == "header_cycle":
        bound = TIMEOUT + 2.5 + EXTRA
        ok(r["end"] == "reset" and r["after"] <= bound,
           "%s: never reading, a new header block every second (%d sent): reset %.1f s after the request "
           "(send_timeout %ds, at most %.1f s): %s" % (what, r["blocks"], r["after"], TIMEOUT, bound, r["end"]))
        hit, got = banned(ban_s, src, r["port"], "send_timeout", "h2")
        ok(hit, "%s: ban log names send_timeout (got %s)" % (what, got))
    elif name == "h1_slow_read_trickle":
        bound = TIMEOUT + 2.5 + EXTRA
        ok(r["end"] == "reset" and r["after"] <= bound,
           "%s: never reading, a pipelined POST body trickling (%d bytes): reset %.1f s after the GET "
           "(send_timeout %ds, at most %.1f s): %s" % (what, r["trickled"], r["after"], TIMEOUT, bound, r["end"]))
        hit, got = banned(ban_s, src, r["port"], "send_timeout", "http/1.1")
        ok(hit, "%s: ban log names send_timeout (got %s)" % (what, got))
    elif name == "trickle_headers":
        bound = TIMEOUT + 1.5 + EXTRA
        ok(r["end"] == "reset" and r["after"] <= bound and r["sent"] < r["size"],
           "%s: one HEADERS frame trickling (%d of %d bytes sent): reset %.1f s after its first byte "
           "(header_timeout %ds, at most %.1f s): %s"
           % (what, r["sent"], r["size"], r["after"], TIMEOUT, bound, r["end"]))
        ok(sum(r["received"].values()) == 0, "%s: no frame sent back (%s)" % (what, r["received"]))
        hit, got = banned(ban_h, src, r["port"], "header_timeout", "h2")
        ok(hit, "%s: ban log names header_timeout (got %s)" % (what, got))
    elif name == "pipeline":
        good = sum(1 for st, body in r["got"] if st == 200 and body == b"slow\n")
        ok(good == 40 and r["how"] == "done",
           "%s: 40 pipelined GET /slow/1000 (%d-byte heads) under header_timeout %ds: %d answered 200 "
           "in %.1f s (%s)" % (what, r["head"], TIMEOUT, good, r["seconds"], r["how"]))
        hit, got = no_ban(ban_h, src)
        ok(hit, "%s: no ban log line (got %s)" % (what, got))

# ---------------------------------------------------------------------------
# 5. Frames that used to be uncounted.
log("== unknown extension frames, HEADERS on a forgotten stream (default limits)")
for tls in (False, True):
    src = source()
    what = "%s unknown frames from %s" % (proto(tls), src)
    c = FloodConn(port_of(H, tls), tls=tls, source=src)
    t0 = time.time()
    sent = 0
    batch = 20
    deadline = t0 + 5 * SLOW
    while sent < 3000 and not c.end and time.time() < deadline:
        if not c.send(raw_frame(0xFA, 0, 0) * batch):
            break
        sent += batch
        c.settle(0.05)
    c.wait_end(1.0 * SLOW)
    secs = (c.end_time or time.time()) - t0
    most = DEFAULT_EMPTY_FRAME_RATE[0] + batch + slack(DEFAULT_EMPTY_FRAME_RATE, secs)
    ok(c.end == "reset" and sent <= most,
       "%s: empty frames of type 0xfa: torn down after %d (empty_frame_rate 100/10s, at most %d): %s"
       % (what, sent, most, c.end))
    ok(c.received["GOAWAY"] == 0, "%s: no GOAWAY (%s)" % (what, dict(c.received)))
    hit, got = banned(ban_h, src, c.local_port, "empty_frame_rate", "h2")
    ok(hit, "%s: ban log names empty_frame_rate (got %s)" % (what, got))
    c.close()

src = source()
what = "h2c HEADERS on a forgotten stream from %s" % src
c = FloodConn(H.port, source=src)
t0 = time.time()
for b in range(3):                  # 300 streams, at most 100 at once, all answered
    for _ in range(100):
        c.request("/open/%d" % b)
    deadline = time.time() + 5 * SLOW
    while c.open and not c.end and time.time() < deadline:
        c.pump(0.2)
ok(c.responses == 300 and not c.open and not c.end,
   "%s: 300 streams opened in batches of 100 and answered (%d, %s)" % (what, c.responses, c.end or "open"))
blk = c.request_block("/again")
sent = 0
batch = 10
t1 = time.time()
deadline = t1 + 5 * SLOW
while sent < 1000 and not c.end and time.time() < deadline:
    if not c.send(h2flood.f_headers(1, blk, end_stream=True, end_headers=True) * batch):
        break
    sent += batch
    c.settle(0.05)
c.wait_end(1.0 * SLOW)
secs = (c.end_time or time.time()) - t1
most = DEFAULT_STREAM_ERROR_RATE[0] + batch + slack(DEFAULT_STREAM_ERROR_RATE, secs)
ok(c.end == "reset" and sent <= most,
   "%s: HEADERS on closed stream 1: torn down after %d (stream_error_rate 100/10s, at most %d): %s"
   % (what, sent, most, c.end))
ok(c.received["GOAWAY"] == 0 and c.responses == 300,
   "%s: no GOAWAY, no response to them (%d responses in all)" % (what, c.responses))
hit, got = banned(ban_h, src, c.local_port, "stream_error_rate", "h2")
ok(hit, "%s: ban log names stream_error_rate (got %s)" % (what, got))
c.close()


# ---------------------------------------------------------------------------
# 6. Data dribble: 1-byte windows.
class Dribbler(FloodConn):
    """Stream window 1 (SETTINGS); after each 1-byte DATA frame, 1 more byte
    of stream window and of connection window."""

    def __init__(self, *a, **k):
        self.ndata = 0
        self.nwu = 0
        FloodConn.__init__(self, *a, **k)

    def _frame(self, ftype, flags, sid, body):
        if ftype == 0:
            self.ndata += 1
            if body and not flags & F_END_STREAM and self.ndata < 50000:
                if self.send(h2flood.f_window_update(sid, 1) + h2flood.f_window_update(0, 1)):
                    self.nwu += 2
            return
        FloodConn._frame(self, ftype, flags, sid, body)


log("== data dribble, default window_update_rate")
for tls in (False, True):
    src = source()
    what = "%s data dribble from %s" % (proto(tls), src)
    c = Dribbler(port_of(H, tls), tls=tls, source=src, settings={SETTINGS_INITIAL_WINDOW_SIZE: 1},
                 window_bump=0, auto_window=False)
    c.request("/bytes/100000000")
    t0 = time.time()
    deadline = t0 + 5 * SLOW
    while not c.end and time.time() < deadline and c.ndata < 20000:
        c.pump(0.2)
    c.wait_end(0.5 * SLOW)
    secs = (c.end_time or time.time()) - t0
    most = DEFAULT_WINDOW_UPDATE_RATE[0] + 2 + slack(DEFAULT_WINDOW_UPDATE_RATE, secs)
    ok(c.end == "reset" and c.nwu <= most,
       "%s: torn down after %d 1-byte DATA frames, %d WINDOW_UPDATEs sent (window_update_rate 1000/10s, "
       "at most %d) in %.1f s: %s" % (what, c.ndata, c.nwu, most, secs, c.end))
    hit, got = banned(ban_h, src, c.local_port, "window_update_rate", "h2")
    ok(hit, "%s: ban log names window_update_rate (got %s)" % (what, got))
    c.close()


# ---------------------------------------------------------------------------
# 7, 8. Concurrent downloads read one at a time.
class SeqReader(FloodConn):
    """Gives back the connection window of every DATA frame, the stream
    window only of the stream being read (`reading`), and that only until
    it got `hold_at` bytes (then it keeps count in `held`)."""

    def __init__(self, *a, **k):
        self.got = Counter()
        self.body = {}
        self.done = set()
        self.padded = 0
        self.reading = None
        self.hold_at = None
        self.held = 0
        FloodConn.__init__(self, *a, **k)

    def _frame(self, ftype, flags, sid, body):
        if ftype != 0:
            FloodConn._frame(self, ftype, flags, sid, body)
            return
        if flags & F_PADDED:
            self.padded += 1        # not expected from h2guard: the bytes would be wrong
        self.got[sid] += len(body)
        self.body.setdefault(sid, bytearray()).extend(body)
        out = h2flood.f_window_update(0, len(body)) if body else b""
        if sid == self.reading and body and not flags & F_END_STREAM:
            if self.hold_at is not None and self.got[sid] >= self.hold_at:
                self.held += len(body)
            else:
                out += h2flood.f_window_update(sid, len(body))
        if out:
            self.send(out)
        if flags & F_END_STREAM:
            self.done.add(sid)
            self._stream_closed(sid)

    def read_stream(self, sid, deadline, stall=3.0, gap=0.0):
        """Makes sid the stream read (giving back what arrived for it
        before); reads until it ends, the connection ends, the deadline or
        `stall` s without a byte of it, pausing `gap` s before each read
        (an application reading at its own pace).  Returns the longest
        stall seen."""
        self.reading = sid
        if self.got[sid] and sid not in self.done:
            self.send(h2flood.f_window_update(sid, self.got[sid]))
        last, t_last, worst = -1, time.time(), 0.0
        while sid not in self.done and not self.end and time.time() < deadline:
            if gap:
                time.sleep(gap)
            self.pump(0.2)
            now = time.time()
            if self.got[sid] != last:
                last, t_last = self.got[sid], now
            worst = max(worst, now - t_last)
            if now - t_last > stall * SLOW:
                break
        return worst


SIZE = 2000000
EXPECT = pattern(SIZE)


def five_downloads(c, tag, first_last):
    """Asks for five /bytes/2000000 on c; returns their stream ids.
    first_last: the first request's END_STREAM (an empty DATA frame) comes
    0.3 s after the other four requests, so that their responses fill
    h2guard's buffers before the first one starts: the order that used to
    stall it for good (once the other four held 4 x 256 KiB, over the
    1 MiB connection cap, the first stream's upstream stayed paused, and
    resetting the four did not resume it).  Otherwise all five at once,
    which stalled about one try in two."""
    first, _ = c.request("/bytes/%d?%s=0" % (SIZE, tag), end_stream=not first_last)
    sids = [first] + [c.request("/bytes/%d?%s=%d" % (SIZE, tag, k))[0] for k in range(1, 5)]
    if first_last:
        c.poll_end_unread(0.3)      # nothing read meanwhile
        c.send(h2flood.f_data(first, b"", end_stream=True))
    return sids


def sequential_reader(src, first_last):
    """7: five downloads at once, read one after the other."""
    what = "h2c sequential reader%s from %s" % (", first request ending last" if first_last else "", src)
    c = SeqReader(S.port, source=src, settings={SETTINGS_INITIAL_WINDOW_SIZE: 65535}, auto_window=False)
    sids = five_downloads(c, "seq", first_last)
    t0 = time.time()
    deadline = t0 + 20 * SLOW
    stalls = []
    for sid in sids:
        stalls.append(c.read_stream(sid, deadline))
        if c.end or sid not in c.done:
            break
    secs = time.time() - t0
    complete = [sid for sid in sids if sid in c.done and c.got[sid] == SIZE and bytes(c.body[sid]) == EXPECT]
    ok(len(complete) == 5 and not c.end and c.padded == 0,
       "%s: %d of 5 downloads complete and intact in %.1f s (bytes per stream %s), longest stall %.1f s, "
       "connection %s" % (what, len(complete), secs, dict(c.got), max(stalls or [0]), c.end or "open"))
    hit, got = no_ban(ban_s, src)
    ok(hit, "%s: no ban log line (got %s)" % (what, got))
    c.close()


def give_up_on_others(src):
    """8: the same five (the first request ending last); the first read up
    to 300000 bytes, then its window held while the other four are reset,
    then read to its end."""
    what = "h2c reader giving up on 4 of 5 downloads from %s" % src
    c = SeqReader(S.port, source=src, settings={SETTINGS_INITIAL_WINDOW_SIZE: 65535}, auto_window=False)
    sids = five_downloads(c, "stall", True)
    first = sids[0]
    c.reading = first
    c.hold_at = 300000
    t0 = time.time()
    deadline = t0 + 1.0 * SLOW
    while c.got[first] < c.hold_at and not c.end and time.time() < deadline:
        c.pump(0.1)
    c.settle(0.3)                   # blocked by its window a moment
    at_rst = c.got[first]
    done_at_rst = first in c.done
    others = dict((s, c.got[s]) for s in sids[1:])
    c.send(b"".join(h2flood.f_rst(s) for s in sids[1:]))
    c.hold_at = None
    if c.held:
        c.send(h2flood.f_window_update(first, c.held))
    worst = c.read_stream(first, time.time() + 15 * SLOW)
    ok(at_rst < SIZE and not done_at_rst,
       "%s: stream %d had %d of %d bytes when the other four (%s bytes) were reset"
       % (what, first, at_rst, SIZE, others))
    ok(first in c.done and c.got[first] == SIZE and bytes(c.body[first]) == EXPECT and not c.end,
       "%s: stream %d then completed intact (%d bytes, %.1f s in all, longest stall %.1f s), connection %s"
       % (what, first, c.got[first], time.time() - t0, worst, c.end or "open"))
    hit, got = no_ban(ban_s, src)
    ok(hit, "%s: no ban log line (got %s)" % (what, got))
    c.close()


log("== five concurrent /bytes/%d, 64 KiB stream windows, read one at a time (send_timeout %ds)" % (SIZE, TIMEOUT))
sequential_reader(source(), True)
sequential_reader(source(), False)
log("== the same, giving up on all but the first download while it is blocked")
give_up_on_others(source())


# ---------------------------------------------------------------------------
# 10. A Go-like client: a stream and a connection WINDOW_UPDATE for every
# DATA frame it reads.
class GoLike(FloodConn):
    def __init__(self, *a, **k):
        self.got = Counter()
        self.done = set()
        self.nwu = 0
        self.ndata = 0
        FloodConn.__init__(self, *a, **k)

    def _frame(self, ftype, flags, sid, body):
        if ftype != 0:
            FloodConn._frame(self, ftype, flags, sid, body)
            return
        self.got[sid] += len(body)
        self.ndata += 1
        if body:
            out = h2flood.f_window_update(0, len(body))
            if not flags & F_END_STREAM:
                out += h2flood.f_window_update(sid, len(body))
            if self.send(out):
                self.nwu += len(out) // 13
        if flags & F_END_STREAM:
            self.done.add(sid)
            self._stream_closed(sid)


BIG = 50000000
log("== Go-like client: 4 MiB stream window, WINDOW_UPDATEs per DATA frame, /bytes/%d, default limits" % BIG)
# Reading as fast as it can, then as an application that takes 20 ms between
# reads: then the whole window is in flight at times and the WINDOW_UPDATEs
# for it come in a burst (the old "two per DATA frame" credit was lost when
# it came before them).
for gap in (0.0, 0.02):
    src = source()
    what = "h2c Go-like client%s from %s" % (" pausing %d ms between reads" % (gap * 1000) if gap else "", src)
    c = GoLike(H.port, source=src, settings={SETTINGS_INITIAL_WINDOW_SIZE: 4 << 20},
               window_bump=(1 << 30) - 65535, auto_window=False)
    sid, _ = c.request("/bytes/%d" % BIG)
    t0 = time.time()
    deadline = t0 + 30 * SLOW
    while sid not in c.done and not c.end and time.time() < deadline:
        if gap:
            time.sleep(gap)
        c.pump(0.5)
    ok(sid in c.done and c.got[sid] == BIG and not c.end,
       "%s: %d of %d bytes in %.1f s, %d DATA frames, %d WINDOW_UPDATEs sent, connection %s"
       % (what, c.got[sid], BIG, time.time() - t0, c.ndata, c.nwu, c.end or "open"))
    hit, got = no_ban(ban_h, src)
    ok(hit, "%s: no ban log line (got %s)" % (what, got))
    c.close()

# ---------------------------------------------------------------------------
# flood_ban_ttl: a flood bans the address too.  Its other live connection is
# torn down with it, a new one is closed at accept (no TLS ServerHello, no
# response) until the ttl is over, other addresses are served throughout;
# client_conn_rate crossed bans the same way.
log("== flood_ban_ttl 2s")
ban_t = BanLog(os.path.join(tmpdir(), "edges-ban-t.log"))
T = H2guard([up.addr], extra="ban_log %s\nkernel_drop off\nflood_ban_ttl 2s\nlimit ping_rate 20/10s\n"
            "limit client_conn_rate 5/10s\n" % ban_t.path)
src = source()
other = FloodConn(T.port, source=src)
other.request("/before")
other.settle(0.5)
ok(other.responses == 1 and not other.end, "ttl: the address's second connection is served before the flood")
att = h2flood.run_attack("ping", T.port, source=src, count=100, linger=2.0)
ok(att.end == "reset" and att.received["PING"] <= 20, "ttl: the PING flood is torn down (%s, %d PING acks)"
   % (att.end, att.received["PING"]))
hit = [e for e in ban_t.of(src) if e.get("limit") == "ping_rate"]
ok(hit and hit[0].get("ttl") == 2, "ttl: the ban log line names ping_rate with ttl 2 (got %s)" % hit)
other.settle(1.0)
ok(other.end == "reset", "ttl: the address's other live connection was torn down too (%s)" % other.end)
for tls in (False, True):
    c = None
    try:
        c = FloodConn(T.tls_port if tls else T.port, tls=tls, source=src, timeout=2)
        c.request("/during")
        c.settle(0.5)
        refused = bool(c.end) and not c.responses
    except (OSError, h2flood.ConnectionEnded):
        refused = True
    ok(refused, "ttl: a new %s connection from the banned address is closed at once" % proto(tls))
    if c is not None:
        c.close()
legit_c = FloodConn(T.port, source=source())
legit_c.request("/other")
legit_c.settle(0.5)
ok(legit_c.responses == 1, "ttl: another address is served meanwhile")
legit_c.close()
time.sleep(2.2)
c = FloodConn(T.port, source=src)
c.request("/after")
c.settle(0.5)
ok(c.responses == 1 and not c.end, "ttl: after 2 s the address is served again")
c.close()
other.close()
src = source()
conns = []
for i in range(8):
    try:
        conns.append(FloodConn(T.port, source=src, timeout=2))
    except (OSError, h2flood.ConnectionEnded):
        pass    # closed at accept
hit = [e for e in ban_t.of(src) if e.get("limit") == "client_conn_rate"]
ok(hit and hit[0].get("ttl") == 2 and hit[0].get("conn") == 0,
   "ttl: client_conn_rate 5/10s crossed by the 6th connection: logged with ttl 2 (got %s)" % hit)
for c in conns:
    c.settle(0.3)
ok(len(conns) >= 5 and all(c.end == "reset" for c in conns[:5]),
   "ttl: the address's 5 connections accepted before were torn down by the ban (%s)"
   % [c.end for c in conns])
for c in conns:
    c.close()
T.stop()

# ---------------------------------------------------------------------------
log("== %d failure(s) in %.1f s" % (len(failures), time.time() - T_START))
for f in failures:
    log("FAILED: " + f.splitlines()[0])
S.stop()
H.stop()
up.stop()
sys.exit(1 if failures else 0)
