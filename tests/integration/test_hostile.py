"""Hostile upstreams, with the real binary and real clients: an invalid
status line, oversized headers, Content-Length lies (more bytes, fewer
bytes), a close mid-body, no answer at all, an answer before the request
body was sent, slow drip responses.  Each time the client gets the
response, a 502/504 or a reset of that stream only: the other streams of
the same HTTP/2 connection are served, HTTP/1.1 clients get the same
answers, and h2guard holds no more descriptors afterwards than before."""

import os
import socket
import subprocess
import threading
import time

from harness import H2guard, RawClient, RawUpstream, check, log, need

need("curl")

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

# The answers written at once: path -> (bytes, keep the connection after).
FIXED = {
    "/ok": (OK, True),
    "/bad-status": (b"HTTP/1.1 2x0 Fine\r\nContent-Length: 2\r\n\r\nok", True),
    "/huge-headers": (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200000 + b"\r\nContent-Length: 2\r\n\r\nok", True),
    # Content-Length says less than follows: a second, smuggled response.
    "/cl-more": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
                 b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSMUGG", True),
    "/cl-fewer": (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000, False),
    "/chunked-cut": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + b"y" * 4096
                     + b"\r\n5\r\nhel", False),
    "/early-close": (b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope",
                     False),
}


class Hostile(RawUpstream):
    """An HTTP/1.1 upstream whose answer depends on the request path."""

    def __init__(self):
        self.stop = threading.Event()
        super().__init__()

    def answer(self, c, idx, nth, head, rest):
        path = head.split(b" ", 2)[1].decode()
        return self._answer(c, path, head, rest), b""

    def _drip(self, c, data, gap):
        for i in range(len(data)):
            if self.stop.wait(gap):
                return
            c.sendall(data[i:i + 1])

    def _answer(self, c, path, head, rest):
        """Answers one request; False closes the connection."""
        if path in FIXED:
            resp, keep = FIXED[path]
            c.sendall(resp)
            return keep
        if path == "/never":
            self.stop.wait(30)
            return False
        if path == "/early-drain":
            # 413 at once, then the body is read (and dropped) as it comes,
            # to its Content-Length: the connection stays usable.
            c.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nnope")
            length = [int(v) for k, _, v in (ln.partition(b":") for ln in head.split(b"\r\n")[1:])
                      if k.strip().lower() == b"content-length"]
            left = (length[0] if length else 0) - len(rest)
            c.settimeout(10)
            while left > 0:
                d = c.recv(min(left, 65536))
                if not d:
                    return False
                left -= len(d)
            c.settimeout(None)
            return True
        if path == "/drip":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n")
            self._drip(c, b"abcdef", 0.3)
            return True
        if path == "/drip-head":
            self._drip(c, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0.05)
            return True
        if path == "/stall-body":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            self.stop.wait(30)
            return False
        c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return True


def h2_exchange(port, reqs, deadline=20.0):
    """Sends every (method, path, body) on one h2c connection at once; returns
    {path: (status, body, "end" | "reset" | "eof" | "timeout")}."""
    import h2.events
    c = RawClient(port, timeout=deadline)
    sids = {}
    for method, path, body in reqs:
        sid = c.h2.get_next_available_stream_id()
        sids[sid] = path
        fields = [(":method", method), (":path", path), (":scheme", "http"), (":authority", "localhost")]
        if body is not None:
            fields.append(("content-length", str(len(body))))
        c.h2.send_headers(sid, fields, end_stream=body is None)
    c.send(c.h2.data_to_send())
    pending = {sid: body for sid, (_, _, body) in zip(sids, reqs) if body is not None}
    res = {sid: [None, b"", None] for sid in sids}
    end = time.monotonic() + deadline
    while any(r[2] is None for r in res.values()):
        # Request bodies go out as far as the windows allow.
        for sid, body in list(pending.items()):
            if res[sid][2] is not None:
                del pending[sid]
                continue
            n = min(len(body), c.h2.local_flow_control_window(sid), c.h2.max_outbound_frame_size)
            if n > 0:
                c.h2.send_data(sid, body[:n], end_stream=n == len(body))
                pending[sid] = body[n:]
                if n == len(body):
                    del pending[sid]
        c.send(c.h2.data_to_send())
        if time.monotonic() > end:
            state = "timeout"
            break
        try:
            c.sock.settimeout(max(0.1, end - time.monotonic()))
            data = c.recv()
        except (ConnectionError, OSError) as e:
            state = "timeout" if isinstance(e, socket.timeout) else "eof"
            break
        for ev in c.h2.receive_data(data):
            sid = getattr(ev, "stream_id", None)
            if sid not in res:
                continue
            if isinstance(ev, h2.events.ResponseReceived):
                res[sid][0] = int(dict(ev.headers)[b":status"])
            elif isinstance(ev, h2.events.DataReceived):
                res[sid][1] += ev.data
                c.h2.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded):
                res[sid][2] = "end"
            elif isinstance(ev, h2.events.StreamReset):
                res[sid][2] = "reset"
        try:
            c.send(c.h2.data_to_send())
        except OSError:
            pass
    else:
        state = None
    for r in res.values():
        if r[2] is None:
            r[2] = state
    c.close()
    return {sids[sid]: tuple(r) for sid, r in res.items()}


def h1(g, path, data=None):
    """An HTTP/1.1 request with curl: (body, status, curl's exit code)."""
    args = ["curl", "-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}", g.url + path]
    if data is not None:
        args += ["--data-binary", "@-", "-H", "Content-Type: application/octet-stream"]
    p = subprocess.run(args, input=data, capture_output=True, timeout=30)
    body, _, code = p.stdout.decode(errors="replace").rpartition("\n")
    return body, int(code or 0), p.returncode


up = Hostile()
g = H2guard([up.addr], tls=False, extra="upstream_response_timeout 1s\nupstream_keepalive 4\nlog_level info")
pid = g.proc.pid
check(h1(g, "/ok")[:2] == ("ok", 200), "the upstream serves /ok")
fds0 = len(os.listdir("/proc/%d/fd" % pid))

# Head-level failures: 502 / 504 with the other stream served.
cases = [("/bad-status", 502), ("/huge-headers", 502), ("/never", 504)]
for path, want in cases:
    r = h2_exchange(g.port, [("GET", path, None), ("GET", "/ok", None)])
    log("h2 %s: %r" % (path, r))
    check(r[path][0] == want and r[path][2] == "end", "h2 %s: %d" % (path, want))
    check(r["/ok"] == (200, b"ok", "end"), "h2 %s: the other stream is served" % path)
    body, code, _ = h1(g, path)
    check(code == want, "HTTP/1.1 %s: %d (got %d)" % (path, want, code))

# Content-Length says less than sent: the response is what it says, and the
# bytes after it never reach another request.
r = h2_exchange(g.port, [("GET", "/cl-more", None), ("GET", "/ok", None)])
check(r["/cl-more"] == (200, b"hello", "end") and r["/ok"] == (200, b"ok", "end"),
      "h2 /cl-more: 5 bytes as announced, the other stream served: %r" % r)
for i in range(6):
    body, code, _ = h1(g, "/ok")
    check((body, code) == ("ok", 200), "HTTP/1.1 /ok after /cl-more (%d): no smuggled response (%r)" % (i, body))

# Cut short mid-body: the stream is reset (not ended as if complete).
for path in ("/cl-fewer", "/chunked-cut", "/stall-body"):
    r = h2_exchange(g.port, [("GET", path, None), ("GET", "/ok", None)])
    log("h2 %s: status %s, %d body bytes, %s" % (path, r[path][0], len(r[path][1]), r[path][2]))
    check(r[path][0] == 200 and r[path][2] == "reset", "h2 %s: head passed on, then the stream is reset" % path)
    check(r["/ok"] == (200, b"ok", "end"), "h2 %s: the other stream is served" % path)
    body, code, rc = h1(g, path)
    check(code == 200 and rc != 0, "HTTP/1.1 %s: the response is cut, so that curl sees an error (rc %d)" % (path, rc))

# Answers before the request body was sent.
big = b"z" * (1 << 20)
r = h2_exchange(g.port, [("POST", "/early-drain", big), ("GET", "/ok", None)])
log("h2 /early-drain: %r" % ((r["/early-drain"][0], r["/early-drain"][1], r["/early-drain"][2]),))
check(r["/early-drain"][:2] == (413, b"nope") and r["/early-drain"][2] in ("end", "reset"),
      "h2 /early-drain: the early 413 reaches the client")
check(r["/ok"] == (200, b"ok", "end"), "h2 /early-drain: the other stream is served")
r = h2_exchange(g.port, [("POST", "/early-close", big), ("GET", "/ok", None)])
log("h2 /early-close: %r" % ((r["/early-close"][0], r["/early-close"][1], r["/early-close"][2]),))
check(r["/early-close"][0] in (413, 502) and r["/early-close"][2] in ("end", "reset"),
      "h2 /early-close: 413 (or 502 when the upstream's reset came first)")
check(r["/ok"] == (200, b"ok", "end"), "h2 /early-close: the other stream is served")
# Over HTTP/1.1 the connection ends after the early answer; closed with the
# client still sending, the client lost the answer about one time in ten.
codes = [h1(g, "/early-drain", big)[:2] for _ in range(20)]
check(codes == [("nope", 413)] * 20, "HTTP/1.1 /early-drain: 413, 20 times out of 20 (%r)" %
      [c for b, c in codes if (b, c) != ("nope", 413)])

# Slow drips: within upstream_response_timeout between bytes they complete.
r = h2_exchange(g.port, [("GET", "/drip", None), ("GET", "/drip-head", None), ("GET", "/ok", None)])
check(r["/drip"] == (200, b"abcdef", "end") and r["/drip-head"] == (200, b"ok", "end"),
      "h2: drip-fed responses complete: %r" % r)
check(r["/ok"] == (200, b"ok", "end"), "h2: the other stream is served while they drip")

# Nothing kept: at most the pooled idle connections (upstream_keepalive 4).
up.stop.set()
time.sleep(1.5)
fds1 = len(os.listdir("/proc/%d/fd" % pid))
log("descriptors: %d before the hostile requests, %d after" % (fds0, fds1))
check(fds1 <= fds0 + 4, "no descriptor left behind (%d -> %d)" % (fds0, fds1))
g.stop()
log("ok")
