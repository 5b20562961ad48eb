"""Ban rules judge the canonical request, not its spelling, in front of a
real nginx that normalizes what it serves.

An upstream like nginx percent-decodes the path, removes dot segments and
merges slashes before it maps the path to a file, takes `Host:` case- and
trailing-dot-insensitively, lets `_` stand for `-` in header names, and so
on.  A rule `path prefix /wp-login.php` that looks at the raw bytes is then
evaded by `/%77p-login.php`, `//wp-login.php`, `/static/../wp-login.php`...
while nginx still serves wp-login.php.  This test sends many such spellings
over the four transports (HTTP/2 over TLS, h2c, HTTP/1.1 clear text,
HTTP/1.1 over TLS) and checks, for each one:

  BAN     after the client's write, h2guard sends 0 bytes and the
          connection ends in a TCP reset; nothing reaches nginx
  400     HTTP/1.1: a response starting "HTTP/1.1 400"; HTTP/2: :status 400
          on the stream, or RST_STREAM(PROTOCOL_ERROR); nothing reaches nginx
  SERVED  200 and the exact bytes of the file

"Nothing reaches nginx" is read from nginx's own access log: after every
case a sentinel request goes straight to nginx, and the lines logged since
the previous sentinel are what the case forwarded.  Request trailers and
forwarding headers are checked against the test upstream's /headers echo.

Every case runs to the end; a table of all of them is printed, and the test
fails (exit 1) when any of them did.  Clients: 127.0.0.1 is the legitimate
one, 127.0.0.3.. are attackers.  nginx listens on a free port of 127.0.0.1
with its own configuration and files in the test's temporary directory.
"""

import atexit
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import time

import harness
from harness import H2guard, RawClient, Upstream, check, curl, fail, free_port, log, skip, tmpdir, wait_port

T0 = time.monotonic()
BUDGET = 150.0          # seconds; cases past it are not run (and fail)
CASE_TIMEOUT = 3.0      # one exchange, at most

NGINX = shutil.which("nginx") or (os.path.exists("/usr/sbin/nginx") and "/usr/sbin/nginx")
if not NGINX:
    skip("nginx is not installed (Debian: nginx-light)")
if shutil.which("curl") is None:
    skip("curl is not installed")
try:
    import h2.connection  # noqa: F401  (python3-h2, with hpack and hyperframe)
except ImportError:
    skip("python3-h2 is not importable by %s" % os.sys.executable)

TMP = tmpdir()
SECRET = b"WP-LOGIN-SECRET\n"

# ---- nginx --------------------------------------------------------------

WWW = os.path.join(TMP, "www")
FILES = {
    "wp-login.php": SECRET,
    "a b": b"A SPACE B\n",
    "files/a+b": b"A PLUS B\n",
    "static/style.css": b"CSS\n",
    "index.html": b"INDEX\n",
}
for name, content in FILES.items():
    p = os.path.join(WWW, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(content)
# nginx's worker runs as root when we are root (user root), else as us.
for d in (WWW, os.path.join(WWW, "files"), os.path.join(WWW, "static")):
    os.chmod(d, 0o755)
for name in FILES:
    os.chmod(os.path.join(WWW, name), 0o644)

ACCESS_LOG = os.path.join(TMP, "nginx-access.log")
NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
%(user)s
pid %(tmp)s/nginx.pid;
error_log %(tmp)s/nginx-error.log;
events { worker_connections 512; }
http {
    default_type text/plain;
    log_format canon '$request_uri|$uri|$host|$http_user_agent|$http_cookie|$args|$http_x_token|$status';
    access_log %(tmp)s/nginx-access.log canon;
    client_body_temp_path %(tmp)s/nginx-client-body;
    proxy_temp_path %(tmp)s/nginx-proxy;
    fastcgi_temp_path %(tmp)s/nginx-fastcgi;
    uwsgi_temp_path %(tmp)s/nginx-uwsgi;
    scgi_temp_path %(tmp)s/nginx-scgi;
    merge_slashes on;
    # As PHP and most frameworks do, X_Token is X-Token ($http_x_token).
    underscores_in_headers on;
    server {
        listen 127.0.0.1:%(port)d;
        server_name _;
        root %(www)s;
        location = /q { return 200 "args=$args\\n"; }
        location = /__sentinel { return 204; }
    }
}
"""


class Nginx:
    def __init__(self):
        for attempt in range(5):
            self.port = free_port()
            conf = os.path.join(TMP, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF % {"tmp": TMP, "www": WWW, "port": self.port,
                                      "user": "user root;" if os.geteuid() == 0 else ""})
            self.errlog = os.path.join(TMP, "nginx-error.log")
            self.proc = subprocess.Popen([NGINX, "-p", TMP + "/", "-c", conf, "-e", self.errlog],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            harness._procs.append(self.proc)
            self.children = []
            if wait_port(self.port, proc=self.proc, timeout=10) and self._ours():
                self.children = self._children()
                return
            self.stop()
            if "Address already in use" not in self.errors():
                break
        fail("nginx did not start:\n" + self.errors())

    def _ours(self):
        """The port answers with our files (not another process that took it)."""
        try:
            data = http_direct(self.port, b"GET /static/style.css HTTP/1.1\r\nHost: x\r\n"
                               b"Connection: close\r\n\r\n")
        except OSError:
            return False
        return self.proc.poll() is None and data.endswith(b"\r\n\r\nCSS\n")

    def errors(self):
        try:
            with open(self.errlog, "rb") as f:
                return f.read().decode("utf-8", "replace")[-3000:]
        except OSError:
            return ""

    def _children(self):
        pids = []
        try:
            for tid in os.listdir("/proc/%d/task" % self.proc.pid):
                with open("/proc/%d/task/%s/children" % (self.proc.pid, tid)) as f:
                    pids += [int(x) for x in f.read().split()]
        except OSError:
            pass
        return pids

    def stop(self):
        """SIGTERM to the master (it ends its workers); then SIGKILL, to its
        worker processes too, should any be left."""
        kids = self._children() or self.children
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in kids:
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if b"nginx" in f.read():
                        os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def http_direct(port, raw, timeout=3.0):
    """Sends raw to 127.0.0.1:port, reads to EOF (bounded); returns the bytes."""
    data = b""
    end = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        while time.monotonic() < end:
            try:
                d = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not d:
                break
            data += d
    return data


class AccessLog:
    """nginx's access log, read in steps that end at a sentinel request."""

    def __init__(self, path, port):
        self.path = path
        self.port = port
        self.off = 0
        self.seq = 0

    def since_last(self):
        """Lines nginx logged since the previous call: a sentinel request
        goes straight to nginx, and its line marks the end (nginx has one
        worker, which logs a request before it reads the next)."""
        self.seq += 1
        tag = "/__sentinel?n=%d|" % self.seq
        http_direct(self.port, b"GET /__sentinel?n=%d HTTP/1.1\r\nHost: sentinel\r\n"
                    b"Connection: close\r\n\r\n" % self.seq)
        end = time.monotonic() + 3.0
        lines = []
        while True:
            try:
                with open(self.path, "rb") as f:
                    f.seek(self.off)
                    chunk = f.read()
            except OSError:
                chunk = b""
            done = False
            while b"\n" in chunk:
                line, chunk = chunk.split(b"\n", 1)
                self.off += len(line) + 1
                text = line.decode("latin-1")
                if text.startswith(tag):
                    done = True
                    break
                if not text.startswith("/__sentinel?"):
                    lines.append(text)
            if done:
                return lines
            if time.monotonic() > end:
                fail("nginx never logged the sentinel %s (log %s)" % (tag, self.path))
            time.sleep(0.002)


nginx = Nginx()
atexit.register(nginx.stop)        # atexit is LIFO: before harness kills (only) the master
NGINX_ADDR = "127.0.0.1:%d" % nginx.port
alog = AccessLog(ACCESS_LOG, nginx.port)

# nginx itself normalizes: these spellings are the file wp-login.php to it.
for p in ("/wp-login.php", "/%77p-login.php", "//wp-login.php"):
    r = curl(["--path-as-is", "http://%s%s" % (NGINX_ADDR, p)], timeout=10, check_rc=False)
    check(r.out.encode() == SECRET, "nginx itself serves %s as wp-login.php (%r)" % (p, r.out[:40]))
alog.since_last()

# ---- h2guard in front of nginx, and in front of the test upstream ---------

BANLOG = os.path.join(TMP, "ban.log")
RULES = """
kernel_drop off
ban_log %s
rule static  path prefix /static/ allow
rule wp      path prefix /wp-login.php ban
rule adm     authority exact admin.example.com ban
rule sqlmap  header user-agent regex "(?i)sqlmap" ban
rule token   header x-token present ban
rule crumbs  header cookie regex "x=1; role=admin" ban
rule sqli    query regex "(?i)union select" ban
rule dbg     query regex "(^|&)debug=" ban
rule admin   path prefix /admin ban
rule del     method DELETE path prefix /files ban
rule longua  header user-agent regex "(?i)^.*(nikto|acunetix)" ban
"""
g = H2guard([NGINX_ADDR], extra=RULES % BANLOG)
up = Upstream()
g2 = H2guard([up.addr], extra=RULES % os.path.join(TMP, "ban2.log"))

TRANSPORTS = ("h2-tls", "h2c", "h1", "h1-tls")
H2_T = ("h2-tls", "h2c")
H1_T = ("h1", "h1-tls")
CLEAR_T = ("h2c", "h1")
TLS_T = ("h2-tls", "h1-tls")


def is_tls(t):
    return t.endswith("tls")


def port_of(guard, t):
    return guard.tls_port if is_tls(t) else guard.port


# ---- the client side: raw bytes counted, TLS through MemoryBIO -------------

def pump(c, deadline):
    """One read: returns (kind, raw byte count, application bytes), kind being
    "data", "reset", "eof", "timeout", "close_notify" or "tls-alert"."""
    left = deadline - time.monotonic()
    if left <= 0:
        return "timeout", 0, b""
    c.sock.settimeout(left)
    try:
        d = c.sock.recv(65536)
    except ConnectionResetError:
        return "reset", 0, b""
    except socket.timeout:
        return "timeout", 0, b""
    if not d:
        return "eof", 0, b""
    if not c.tls:
        return "data", len(d), d
    c.inb.write(d)
    app = b""
    while True:
        try:
            chunk = c.tls.read(65536)
        except ssl.SSLWantReadError:
            return "data", len(d), app
        except ssl.SSLZeroReturnError:
            return "close_notify", len(d), app
        except ssl.SSLError:
            return "tls-alert", len(d), app
        if not chunk:
            return "data", len(d), app
        app += chunk


TICKETS = {"seen": None}     # whether the server sends TLS 1.3 session tickets


def drain_tickets(c):
    """TLS 1.3: takes the session tickets the server sends after the
    handshake, so that what is counted after our write is only what came
    after it (HTTP/2 has its SETTINGS exchange for that; HTTP/1.1 has not)."""
    if c.tls.version() != "TLSv1.3":
        return
    end = time.monotonic() + (0.5 if TICKETS["seen"] is not False else 0.05)
    while time.monotonic() < end and not (c.tls.session is not None and c.tls.session.has_ticket):
        kind, _, _ = pump(c, min(end, time.monotonic() + 0.1))
        if kind not in ("data", "timeout"):
            return
    if TICKETS["seen"] is None:
        TICKETS["seen"] = c.tls.session is not None and c.tls.session.has_ticket
    # The second ticket comes in the same flight: whatever is left, briefly.
    while select.select([c.sock], [], [], 0.01)[0]:
        kind, _, _ = pump(c, time.monotonic() + 0.05)
        if kind != "data":
            return


def parse_h1(data, eof=True):
    """The complete HTTP/1.1 responses in data: [(status, {name: [values]}, body)];
    eof: the connection has ended (a body without length runs to it)."""
    out = []
    while data:
        i = data.find(b"\r\n\r\n")
        if i < 0 or not data.startswith(b"HTTP/"):
            break
        lines = data[:i].decode("latin-1").split("\r\n")
        rest = data[i + 4:]
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            break
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        if 100 <= status < 200:
            data = rest
            continue
        te = ",".join(hdrs.get("transfer-encoding", [])).lower()
        if "chunked" in te:
            body, ok = b"", False
            while True:
                j = rest.find(b"\r\n")
                if j < 0:
                    break
                try:
                    size = int(rest[:j].split(b";")[0], 16)
                except ValueError:
                    break
                if size == 0:
                    k = rest.find(b"\r\n\r\n", j)   # (no) trailers, then the end
                    if k < 0:
                        break
                    rest = rest[k + 4:]
                    ok = True
                    break
                if len(rest) < j + 2 + size + 2:
                    break
                body += rest[j + 2:j + 2 + size]
                rest = rest[j + 2 + size + 2:]
            if not ok:
                break
            out.append((status, hdrs, body))
            data = rest
        elif "content-length" in hdrs:
            n = int(hdrs["content-length"][0])
            if len(rest) < n:
                break
            out.append((status, hdrs, rest[:n]))
            data = rest[n:]
        else:
            if eof:
                out.append((status, hdrs, rest))    # until the end of the connection
            break
    return out


class Result:
    def __init__(self):
        self.n = 0              # bytes on the wire after our write (TLS records counted)
        self.how = "?"          # how the connection ended: reset, eof, timeout...
        self.app = b""          # HTTP/1.1: the response bytes
        self.responses = []     # HTTP/1.1: parse_h1(app)
        self.streams = {}       # HTTP/2: stream id -> {status, body, rst}
        self.goaway = None
        self.error = None

    def banned(self):
        return self.error is None and self.n == 0 and self.how == "reset"


def h1_exchange(port, tls, raw, source, expect_responses=1):
    """A fresh HTTP/1.1 connection from source: sends raw in one write,
    reads until the connection ends, expect_responses complete responses
    arrived, or CASE_TIMEOUT."""
    res = Result()
    try:
        c = RawClient(port, tls=tls, h2=False, source=source, drain=False)
    except OSError as e:
        res.error = "connect: %s" % e
        return res
    try:
        if tls:
            drain_tickets(c)
        c.send_raw_tcp(raw)
        deadline = time.monotonic() + CASE_TIMEOUT
        while True:
            kind, n, app = pump(c, deadline)
            res.n += n
            res.app += app
            if kind != "data":
                res.how = kind
                break
            if len(parse_h1(res.app, eof=False)) >= expect_responses:
                res.how = "complete"
                break
    except OSError as e:
        res.error = "%s: %s" % (type(e).__name__, e)
    finally:
        c.close()
    res.responses = parse_h1(res.app)
    return res


def h2_exchange(port, tls, streams, source):
    """A fresh HTTP/2 connection from source (SETTINGS exchanged first), then
    one write with a HEADERS frame per stream (DATA and trailers when given),
    headers sent as they are (no validation, no lowercasing).  streams:
    [(headers, body or None, trailers or None)]."""
    import h2.events
    import h2.exceptions
    res = Result()
    try:
        c = RawClient(port, tls=tls, h2=True, source=source, drain=False)
    except (OSError, ssl.SSLError) as e:
        res.error = "connect: %s" % e
        return res
    try:
        cfg = c.h2.config
        cfg.validate_outbound_headers = False
        cfg.normalize_outbound_headers = False
        cfg.validate_inbound_headers = False
        sids = []
        for hdrs, body, trailers in streams:
            sid = c.h2.get_next_available_stream_id()
            c.h2.send_headers(sid, hdrs, end_stream=body is None and trailers is None)
            if body is not None:
                c.h2.send_data(sid, body, end_stream=trailers is None)
            if trailers is not None:
                c.h2.send_headers(sid, trailers, end_stream=True)
            sids.append(sid)
            res.streams[sid] = {"status": None, "body": b"", "rst": None, "end": False}
        c.send_raw_tcp(c.h2.data_to_send())
        deadline = time.monotonic() + CASE_TIMEOUT
        while not all(s["end"] for s in res.streams.values()):
            kind, n, app = pump(c, deadline)
            res.n += n
            if kind != "data":
                res.how = kind
                break
            try:
                events = c.h2.receive_data(app)
            except h2.exceptions.ProtocolError as e:
                res.how = "client h2 error: %s" % e
                break
            for ev in events:
                st = res.streams.get(getattr(ev, "stream_id", None))
                if isinstance(ev, h2.events.ResponseReceived) and st:
                    st["status"] = int(dict(ev.headers)[b":status"])
                elif isinstance(ev, h2.events.DataReceived) and st:
                    st["body"] += ev.data
                    c.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded) and st:
                    st["end"] = True
                elif isinstance(ev, h2.events.StreamReset) and st:
                    st["rst"] = ev.error_code
                    st["end"] = True
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    res.goaway = ev.error_code
            if res.goaway is not None:
                res.how = "goaway"
                break
            try:
                c.send(c.h2.data_to_send())
            except OSError:
                pass
        else:
            res.how = "complete"
    except OSError as e:
        res.error = "%s: %s" % (type(e).__name__, e)
    finally:
        c.close()
    return res


def code_name(code):
    try:
        import h2.errors
        return h2.errors.ErrorCodes(code).name
    except (ValueError, ImportError):
        return str(code)


def describe(res, sid=1):
    """What a single-request exchange got, in a few words."""
    if res.error:
        return "error " + res.error
    if res.banned():
        return "BAN"
    if res.streams:
        st = res.streams.get(sid)
        if st and st["rst"] is not None:
            return "RST_STREAM(%s)" % code_name(st["rst"])
        if st and st["status"] is not None:
            return "%d %r" % (st["status"], st["body"][:24])
        if res.goaway is not None:
            return "GOAWAY(%s)" % code_name(res.goaway)
        return "%d bytes, then %s" % (res.n, res.how)
    if res.responses:
        s, _, b = res.responses[0]
        more = " (+%d)" % (len(res.responses) - 1) if len(res.responses) > 1 else ""
        return "%d %r%s" % (s, b[:24], more)
    if res.app:
        return "%r..., %s" % (res.app[:24], res.how)
    return "%d bytes, then %s" % (res.n, res.how)


def got_4xx5xx(res, sid=1):
    """A 400, 405 or 505 answer (or, HTTP/2, a stream reset): refused, not forwarded."""
    if res.responses:
        return res.responses[0][0] in (400, 405, 505)
    return got_400(res, sid)


def got_400(res, sid=1):
    if res.error:
        return False
    if res.streams:
        st = res.streams.get(sid) or {}
        return st.get("status") == 400 or st.get("rst") == 1     # 1: PROTOCOL_ERROR
    return res.app.startswith(b"HTTP/1.1 400")


def got_rst_protocol(res, sid=1):
    return bool(res.streams) and (res.streams.get(sid) or {}).get("rst") == 1


def served(res, body, sid=1):
    if res.error:
        return False
    if res.streams:
        st = res.streams.get(sid) or {}
        return st.get("status") == 200 and st.get("body") == body
    return bool(res.responses) and res.responses[0][0] == 200 and res.responses[0][2] == body


# ---- running cases, collecting results ------------------------------------

RESULTS = []        # (section, case, transport, expected, got, ok)


def ban_rules_since(off):
    try:
        with open(BANLOG, "rb") as f:
            f.seek(off)
            return [json.loads(l).get("rule") or json.loads(l).get("limit")
                    for l in f.read().splitlines() if l.strip()]
    except (OSError, ValueError):
        return []


def banlog_size():
    try:
        return os.path.getsize(BANLOG)
    except OSError:
        return 0


def record(section, case, transport, expected, got, ok):
    RESULTS.append((section, case, transport, expected, got, ok))


def out_of_time(section, case, transport, expected):
    if time.monotonic() - T0 > BUDGET:
        record(section, case, transport, expected, "not run: over the time budget", False)
        return True
    return False


def h1_request(target, host=b"localhost", fields=b"", method=b"GET"):
    if isinstance(target, str):
        target = target.encode("latin-1")
    return (method + b" " + target + b" HTTP/1.1\r\nHost: " + host +
            b"\r\nUser-Agent: canon-test\r\n" + fields + b"Connection: close\r\n\r\n")


def h2_headers(t, path, authority="localhost", fields=(), scheme=None, method="GET", with_authority=True):
    hdrs = [(":method", method), (":scheme", scheme or ("https" if is_tls(t) else "http"))]
    if with_authority:
        hdrs.append((":authority", authority))
    hdrs.append((":path", path))
    if not any(k.lower() in ("user-agent", "user_agent") for k, _ in fields):
        hdrs.append(("user-agent", "canon-test"))
    return hdrs + list(fields)


def run_case(section, case, t, expected, h1_raw=None, h2_hdrs=None, body=None, source="127.0.0.3",
             accept=None):
    """One case against g (in front of nginx).  expected: "BAN", "400",
    "SERVED" (body: the file), or a label with accept(res) saying whether
    the outcome is one of those allowed.  Non-SERVED cases also must not
    have reached nginx."""
    if out_of_time(section, case, t, expected):
        return
    boff = banlog_size()
    if t in H1_T:
        res = h1_exchange(port_of(g, t), is_tls(t), h1_raw, source)
    else:
        res = h2_exchange(port_of(g, t), is_tls(t), [(h2_hdrs, None, None)], source)
    leaked = alog.since_last()
    got = describe(res)
    if got == "BAN":
        rules = ban_rules_since(boff)
        if rules:
            got = "BAN(%s)" % ",".join(str(r) for r in rules)
    if expected == "SERVED":
        ok = served(res, body)
    else:
        if accept is not None:
            ok = accept(res)
        elif expected == "BAN":
            ok = res.banned()
        elif expected == "400":
            ok = got_400(res)
        else:
            raise ValueError(expected)
        if leaked:
            got += "; nginx got %d: %s" % (len(leaked), leaked[0][:70])
            ok = False
    record(section, case, t, expected, got, ok)


def ban_or_rst(res):
    return res.banned() or got_rst_protocol(res)


def ban_or_400(res):
    return res.banned() or got_400(res)     # got_400 takes RST_STREAM(PROTOCOL_ERROR) for h2


# ---- 0. the legitimate connection, opened first ---------------------------

legit = None
try:
    legit = RawClient(g.tls_port, tls=True)
    got = legit.get("/static/style.css")
    record("legit", "h2 connection at the start: /static/style.css", "h2-tls", "SERVED",
           "%s %r" % got, got == (200, b"CSS\n"))
except (OSError, ssl.SSLError) as e:
    record("legit", "h2 connection at the start: /static/style.css", "h2-tls", "SERVED", "error %s" % e, False)
    legit = None
alog.since_last()

# ---- 1. path spellings of /wp-login.php ------------------------------------

PATHS = [
    # from the contract
    "//wp-login.php", "///wp-login.php", "/%77p-login.php", "/wp-login%2ephp", "/wp-login%2Ephp",
    "/%2Fwp-login.php", "/%2fwp-login.php", "/./wp-login.php", "/x/../wp-login.php",
    "/x/%2e%2e/wp-login.php", "/x/%2E%2E/wp-login.php", "/x/.%2e/wp-login.php",
    "/x/y/../../wp-login.php", "/x//..//wp-login.php", "/x/./../wp-login.php", "/%2e/wp-login.php",
    "/../wp-login.php", "/..//wp-login.php", "/wp-login.php?x=1",
    "/%77%70%2d%6c%6f%67%69%6e%2e%70%68%70", "/static/../wp-login.php", "/static/%2e%2e/wp-login.php",
    "/static%2F..%2Fwp-login.php", "/static/..%2Fwp-login.php", "/wp-login.php#frag",
    # more of the same kind
    "/%2e%2e/wp-login.php", "/x/%2e%2e%2fwp-login.php", "/x/..%2F%77p-login.php",
    "/static//../wp-login.php", "/static/./../wp-login.php", "/static/x/../../wp-login.php",
    "//static/../wp-login.php", "/static/%2E%2E%2Fwp-login.php", "/x/%2e./wp-login.php",
    "/.//wp-login.php", "/%2F%2Fwp-login.php", "/x/../%77p-login%2Ephp", "/wp-login.php?",
    "/x/y/..%2F..%2Fwp-login.php", "/static%2f%2e%2e%2fwp-login.php", "/%2e%2E/%2E%2e/wp-login.php",
    "/x/.././wp-login.php", "/static/.%2E/wp-login.php",
]
assert len(set(PATHS)) == len(PATHS)

# What nginx itself makes of each spelling (for the table: the evasions are real).
direct = {}
for p in PATHS:
    data = http_direct(nginx.port, h1_request(p))
    resp = parse_h1(data)
    direct[p] = ("SECRET" if resp[0][2] == SECRET else str(resp[0][0])) if resp else "?"
alog.since_last()

ban_spellings = set()
ban_cases = 0
for p in PATHS:
    for t in TRANSPORTS:
        accept = ban_or_rst if (p.endswith("#frag") and t in H2_T) else None
        label = "BAN|RST" if accept else "BAN"
        run_case("path", "%s  [nginx: %s]" % (p, direct[p]), t, label if accept else "BAN",
                 h1_raw=h1_request(p), h2_hdrs=h2_headers(t, p), accept=accept)
        ban_spellings.add(p)
        ban_cases += 1

# Absolute-form targets (HTTP/1.1 only).
ABS_BAN = ["http://a/wp-login.php", "HTTP://a/wp-login.php", "http://a:/wp-login.php",
           "http://a:80//wp-login.php", "https://a/%2e/wp-login.php", "http://a/static/../wp-login.php"]
ABS_400 = ["http://a:99999/wp-login.php", "ftp://a/wp-login.php"]
for target in ABS_BAN:
    for t in H1_T:
        run_case("absolute-form", "GET " + target, t, "BAN", h1_raw=h1_request(target, host=b"a"))
        ban_spellings.add("GET " + target)
        ban_cases += 1
for target in ABS_400:
    for t in H1_T:
        run_case("absolute-form", "GET " + target, t, "400", h1_raw=h1_request(target, host=b"a"))

# HTTP/2 pseudo-headers that smuggle an absolute URL (never forwarded).
H2_ODD = [("x", "http://admin.example.com/wp-login.php"), ("http", "http://a/wp-login.php"),
          ("https", "https://a/wp-login.php")]
for scheme, path in H2_ODD:
    for t in H2_T:
        run_case("h2 pseudo", ":scheme %s :path %s" % (scheme, path), t, "BAN|RST|400",
                 h2_hdrs=h2_headers(t, path, scheme=scheme), accept=ban_or_400)
        ban_spellings.add(":scheme %s :path %s" % (scheme, path))
        ban_cases += 1

# ---- 2. malformed: 400, never forwarded ------------------------------------

MALFORMED_PATHS = ["/%zz", "/%", "/%4", "/%00", "/wp-login.php%00", "/a%0Ab", "/a%0Db", "/%g0"]
for p in MALFORMED_PATHS:
    for t in TRANSPORTS:
        run_case("malformed", p, t, "400", h1_raw=h1_request(p), h2_hdrs=h2_headers(t, p), source="127.0.0.4")
# Malformed and banned both: either answer keeps it from nginx.
for p in ("/static/%00/../wp-login.php", "/static/%zz/../wp-login.php"):
    for t in TRANSPORTS:
        run_case("malformed", p, t, "BAN|400", h1_raw=h1_request(p), h2_hdrs=h2_headers(t, p),
                 source="127.0.0.4", accept=ban_or_400)
for t in H1_T:
    # RFC 9112 3 lets a server take the TAB for the separator: then it is /wp-login.php.
    run_case("malformed", "TAB after the target (GET /wp-login.php<TAB> HTTP/1.1)", t, "BAN|400",
             h1_raw=b"GET /wp-login.php\t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
             source="127.0.0.4", accept=ban_or_400)

MALFORMED_H1 = [
    ("HTTP/0.9 request line (GET /wp-login.php)", b"GET /wp-login.php\r\n\r\n"),
    ("HTTP/1.1 without Host", b"GET /q HTTP/1.1\r\nConnection: close\r\n\r\n"),
    ("HTTP/2.0 in an HTTP/1 request line (505)", b"GET /q HTTP/2.0\r\nHost: localhost\r\n"
                                                 b"Connection: close\r\n\r\n"),
    ("CONNECT /admin/ (origin form; 405)", b"CONNECT /admin/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ("CONNECT /wp-login.php (405)", b"CONNECT /wp-login.php HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("CONNECT a:443 (405)", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nConnection: close\r\n\r\n"),
    ("TAB inside the target (GET /a<TAB>b HTTP/1.1)", b"GET /a\tb HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    ("'Content-Length : 5'", b"POST /q HTTP/1.1\r\nHost: localhost\r\nContent-Length : 5\r\n"
                             b"Connection: close\r\n\r\nhello"),
    ("field 'X Y: z'", b"GET /q HTTP/1.1\r\nHost: localhost\r\nX Y: z\r\nConnection: close\r\n\r\n"),
    ("bare CR in a field value", b"GET /q HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\nConnection: close\r\n\r\n"),
    ("bare CR hiding a field", b"GET /q HTTP/1.1\r\nHost: localhost\r\nX-A: a\rX-Token: 1\r\n"
                               b"Connection: close\r\n\r\n"),
]
for name, raw in MALFORMED_H1:
    for t in H1_T:
        run_case("malformed", name, t, "400|405|505", h1_raw=raw, source="127.0.0.4", accept=got_4xx5xx)

# A %2F making a dot segment: nginx resolves /admin%2F..%2F to /, a WSGI
# server takes /admin/../ for a path under /admin.  Judged as /, then
# refused: never forwarded.
for p in ("/admin%2F..%2F", "/admin%2F..%2Fstatic/style.css", "/x%2F..%2Fstatic/style.css", "/static/x%2F%2e%2e%2F"):
    for t in TRANSPORTS:
        run_case("malformed", p + " (read two ways upstream)", t, "400", h1_raw=h1_request(p),
                 h2_hdrs=h2_headers(t, p), source="127.0.0.4")

# A method-override field is the method, for the rules.
for hdr in ("X-HTTP-Method-Override", "X_HTTP_Method_Override", "X-HTTP-Method", "X-Method-Override"):
    for t in TRANSPORTS:
        run_case("headers", "POST /files/a+b, %s: DELETE" % hdr, t, "BAN",
                 h1_raw=h1_request("/files/a+b", method=b"POST", fields=("%s: delete\r\nContent-Length: 0\r\n"
                                                                         % hdr).encode()),
                 h2_hdrs=h2_headers(t, "/files/a+b", method="POST", fields=[(hdr.lower(), "DELETE")]),
                 source="127.0.0.6")

# ---- 3. authority ---------------------------------------------------------

AUTH_ALL = ["ADMIN.EXAMPLE.COM", "admin.example.com.", "admin.example.com:", "Admin.Example.Com.:"]
for a in AUTH_ALL:
    for t in TRANSPORTS:
        run_case("authority", "Host / :authority %s" % a, t, "BAN", h1_raw=h1_request("/", host=a.encode()),
                 h2_hdrs=h2_headers(t, "/", authority=a), source="127.0.0.5")
for t in CLEAR_T:
    a = "admin.example.com:80"
    run_case("authority", "Host / :authority %s" % a, t, "BAN", h1_raw=h1_request("/", host=a.encode()),
             h2_hdrs=h2_headers(t, "/", authority=a), source="127.0.0.5")
for t in TLS_T:
    a = "admin.example.com:443"
    run_case("authority", "Host / :authority %s" % a, t, "BAN", h1_raw=h1_request("/", host=a.encode()),
             h2_hdrs=h2_headers(t, "/", authority=a), source="127.0.0.5")
# A virtual host is chosen whatever the port: any port is the same host.
for a in ("admin.example.com:8080", "admin.example.com:1", "ADMIN.EXAMPLE.COM.:65535"):
    for t in TRANSPORTS:
        run_case("authority", "Host / :authority %s" % a, t, "BAN", h1_raw=h1_request("/", host=a.encode()),
                 h2_hdrs=h2_headers(t, "/", authority=a), source="127.0.0.5")
for t in TLS_T:
    a = "admin.example.com:80"
    run_case("authority", "Host / :authority %s over TLS" % a, t, "BAN", h1_raw=h1_request("/", host=a.encode()),
             h2_hdrs=h2_headers(t, "/", authority=a), source="127.0.0.5")
for t in H1_T:
    run_case("authority", "GET http://admin.example.com:8080/h", t, "BAN",
             h1_raw=h1_request("http://admin.example.com:8080/h", host=b"good"), source="127.0.0.5")
for t in H1_T:
    run_case("authority", "GET http://Admin.Example.Com./x, Host: good", t, "BAN",
             h1_raw=h1_request("http://Admin.Example.Com./x", host=b"good"), source="127.0.0.5")
    run_case("authority", "two Host fields: good, admin.example.com", t, "BAN|400",
             h1_raw=h1_request("/", host=b"good", fields=b"Host: admin.example.com\r\n"),
             source="127.0.0.5", accept=ban_or_400)
for t in H2_T:
    run_case("authority", ":authority good + host: admin.example.com", t, "BAN|400",
             h2_hdrs=h2_headers(t, "/", authority="good", fields=[("host", "admin.example.com")]),
             source="127.0.0.5", accept=ban_or_400)
    run_case("authority", "no :authority, host: ADMIN.example.com.", t, "BAN",
             h2_hdrs=h2_headers(t, "/", with_authority=False, fields=[("host", "ADMIN.example.com.")]),
             source="127.0.0.5")

# ---- 4. header names and repeated fields ------------------------------------

for t in H1_T:
    run_case("headers", "User_Agent: sqlmap", t, "BAN",
             h1_raw=b"GET / HTTP/1.1\r\nHost: localhost\r\nUser_Agent: sqlmap\r\nConnection: close\r\n\r\n",
             source="127.0.0.6")
    run_case("headers", "X_Token: 1", t, "BAN", h1_raw=h1_request("/", fields=b"X_Token: 1\r\n"), source="127.0.0.6")
    run_case("headers", "two User-Agent fields, the second sqlmap", t, "BAN",
             h1_raw=h1_request("/", fields=b"User-Agent: sqlmap/1.7\r\n"), source="127.0.0.6")
    run_case("headers", "two Cookie lines x=1 / role=admin", t, "BAN",
             h1_raw=h1_request("/", fields=b"Cookie: x=1\r\nCookie: role=admin\r\n"), source="127.0.0.6")
for t in H2_T:
    run_case("headers", "user_agent: sqlmap", t, "BAN",
             h2_hdrs=h2_headers(t, "/", fields=[("user_agent", "sqlmap")]), source="127.0.0.6")
    run_case("headers", "x_token: 1", t, "BAN", h2_hdrs=h2_headers(t, "/", fields=[("x_token", "1")]),
             source="127.0.0.6")
    run_case("headers", "two user-agent fields, the second sqlmap", t, "BAN",
             h2_hdrs=h2_headers(t, "/", fields=[("user-agent", "canon-test"), ("user-agent", "sqlmap/1.7")]),
             source="127.0.0.6")
    run_case("headers", "two cookie fields x=1 / role=admin", t, "BAN",
             h2_hdrs=h2_headers(t, "/", fields=[("cookie", "x=1"), ("cookie", "role=admin")]), source="127.0.0.6")

# ---- 5. queries ------------------------------------------------------------

QUERIES = ["/q?q=union%20select", "/q?q=UNION+SELECT", "/q?q=%55nion%20select", "/q?%64ebug=1",
           "/q?a=1&debug=1", "/q?q=uni%6fn+select", "/q?a=1&%64%65bug=1"]
for q in QUERIES:
    for t in TRANSPORTS:
        run_case("query", q, t, "BAN", h1_raw=h1_request(q), h2_hdrs=h2_headers(t, q), source="127.0.0.7")

# ---- 6. legitimate requests: served byte for byte ---------------------------

LEGIT = [("/a%20b", b"A SPACE B\n"), ("/files/a%2Bb", b"A PLUS B\n"), ("/q?q=a%26b", b"args=q=a%26b\n"),
         ("/static/style.css", b"CSS\n"), ("/static/./style.css", b"CSS\n"),
         ("/q?q=union&x=select", b"args=q=union&x=select\n"),
         # An escaped debug= inside a value is no debug parameter.
         ("/q?next=%2Fpage%3Fa%3D1%26debug%3Dtrue", b"args=next=%2Fpage%3Fa%3D1%26debug%3Dtrue\n"),
         ("/static%2F%2Fstyle.css", b"CSS\n")]
for p, body in LEGIT:
    for t in TRANSPORTS:
        run_case("legit", p, t, "SERVED", h1_raw=h1_request(p), h2_hdrs=h2_headers(t, p), body=body,
                 source="127.0.0.1")
# A long browser User-Agent (8 KB) through a "^.*(...)" pattern: linear, so
# within the match bound: served, not failed closed.
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 " * 80)
for t in TRANSPORTS:
    run_case("legit", "8 KB User-Agent through ^.*(nikto|acunetix)", t, "SERVED",
             h1_raw=b"GET /static/style.css HTTP/1.1\r\nHost: localhost\r\nUser-Agent: " + UA.encode() +
             b"\r\nConnection: close\r\n\r\n",
             h2_hdrs=h2_headers(t, "/static/style.css", fields=[("user-agent", UA)]), body=b"CSS\n",
             source="127.0.0.1")

# ---- 7. request trailers (test upstream /headers) ----------------------------


def no_trailer(text):
    return "x-trailer" not in text.lower()


CHUNKED = (b"POST /headers HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n0\r\nX-Trailer-A: 1\r\nX-Trailer-B: 2\r\n\r\n"
           b"GET /headers HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
for t in H1_T:
    if out_of_time("trailers", "chunked POST with trailers + GET, pipelined", t, "2x 200, no X-Trailer"):
        continue
    res = h1_exchange(port_of(g2, t), is_tls(t), CHUNKED, "127.0.0.8", expect_responses=2)
    bodies = [b.decode("latin-1") for _, _, b in res.responses]
    ok = (len(res.responses) == 2 and all(s == 200 for s, _, _ in res.responses)
          and all(no_trailer(b) for b in bodies))
    got = "%s; %s" % (" + ".join(str(s) for s, _, _ in res.responses) or describe(res),
                      "trailer fields in: " + ", ".join(
                          "%s response: %s" % (("1st", "2nd")[i], "; ".join(
                              line for line in b.splitlines() if "x-trailer" in line.lower()))
                          for i, b in enumerate(bodies) if not no_trailer(b)) if not all(map(no_trailer, bodies))
                      else "no trailer field echoed")
    record("trailers", "chunked POST with trailers + GET, pipelined", t, "2x 200, no X-Trailer", got, ok)

for t in H2_T:
    if out_of_time("trailers", "POST with trailers + GET", t, "2x 200, no x-trailer"):
        continue
    sch = "https" if is_tls(t) else "http"
    base = [(":method", "POST"), (":scheme", sch), (":authority", "t"), (":path", "/headers")]
    get = [(":method", "GET"), (":scheme", sch), (":authority", "t"), (":path", "/headers")]
    res = h2_exchange(port_of(g2, t), is_tls(t),
                      [(base, b"hello", [("x-trailer-a", "1"), ("x-trailer-b", "2")]), (get, None, None)],
                      "127.0.0.8")
    sts = [res.streams.get(s, {}) for s in (1, 3)]
    ok = all(s.get("status") == 200 and no_trailer(s.get("body", b"").decode("latin-1")) for s in sts)
    got = " + ".join("%s%s" % (s.get("status"), "" if no_trailer(s.get("body", b"").decode("latin-1"))
                                else " (x-trailer echoed)") for s in sts) + ("" if res.error is None
                                                                           else " " + res.error)
    record("trailers", "POST with trailers + GET", t, "2x 200, no x-trailer", got, ok)

# ---- 8. forwarding headers (forwarded_headers strip, the default) -----------------

FWD_VALUES = ("6.6.6.", "evil-fwd", "6661")


def fwd_check(echo, source, proto):
    """(ok, what is wrong) of the upstream's /headers echo."""
    lines = [l.partition(": ") for l in echo.splitlines()]
    names = [(k.lower().replace("_", "-"), v) for k, _, v in lines if k not in ("method", "uri")]
    xff = [v for k, v in names if k == "x-forwarded-for"]
    xfp = [v for k, v in names if k == "x-forwarded-proto"]
    wrong = []
    if xff != [source]:
        wrong.append("X-Forwarded-For %s" % xff)
    if xfp != [proto]:
        wrong.append("X-Forwarded-Proto %s" % xfp)
    extra = [k for k, _ in names if k in ("forwarded", "x-real-ip", "true-client-ip")
             or (k.startswith("x-forwarded-") and k not in ("x-forwarded-for", "x-forwarded-proto"))]
    if extra:
        wrong.append("passed: " + ", ".join(sorted(set(extra))))
    leaked = [v for v in FWD_VALUES if v in echo]
    if leaked:
        wrong.append("client values reached it: " + ", ".join(leaked))
    return not wrong, "; ".join(wrong) or "XFF %s, XFP %s only" % (source, proto)


def fwd_fields(t):
    return [("X-Forwarded-Host", "evil-fwd-host.example"), ("X-Forwarded-Port", "6661"),
            ("X-Real-IP", "6.6.6.1"), ("True-Client-IP", "6.6.6.2"), ("X_Forwarded_For", "6.6.6.3"),
            ("Forwarded", "for=6.6.6.4;proto=https;host=evil-fwd.example"),
            ("X-Forwarded-Proto", "http" if is_tls(t) else "https"), ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded", "for=6.6.6.7"), ("Proxy-Client-IP", "6.6.6.8"), ("WL-Proxy-Client-IP", "6.6.6.9"),
            ("X-Original-URL", "/evil-fwd-admin"), ("X-Rewrite-URL", "/evil-fwd-admin"),
            ("X-Host", "evil-fwd.example"), ("X-Original-Host", "evil-fwd.example"), ("X-Scheme", "evil-fwd"),
            ("X-Envoy-External-Address", "6.6.6.10"), ("CF-Connecting-IP", "6.6.6.11"),
            ("X-Client-IP", "6.6.6.12"), ("Fastly-Client-IP", "6.6.6.13")]


for t in TRANSPORTS:
    case = "client's X-Forwarded-*/Forwarded/X-Real-IP/True-Client-IP/X_Forwarded_For"
    want = "XFF 127.0.0.9, XFP %s only" % ("https" if is_tls(t) else "http")
    if out_of_time("forwarding", case, t, want):
        continue
    if t in H1_T:
        raw = b"GET /headers HTTP/1.1\r\nHost: t\r\n" + b"".join(
            ("%s: %s\r\n" % kv).encode() for kv in fwd_fields(t)) + b"Connection: close\r\n\r\n"
        res = h1_exchange(port_of(g2, t), is_tls(t), raw, "127.0.0.9")
        ok200 = bool(res.responses) and res.responses[0][0] == 200
        echo = res.responses[0][2].decode("latin-1") if res.responses else ""
    else:
        hdrs = h2_headers(t, "/headers", authority="t", fields=[(k.lower(), v) for k, v in fwd_fields(t)])
        res = h2_exchange(port_of(g2, t), is_tls(t), [(hdrs, None, None)], "127.0.0.9")
        st = res.streams.get(1, {})
        ok200 = st.get("status") == 200
        echo = st.get("body", b"").decode("latin-1")
    ok, what = fwd_check(echo, "127.0.0.9", "https" if is_tls(t) else "http")
    record("forwarding", case, t, want, what if ok200 else describe(res), ok and ok200)

for t, scheme in (("h2c", "https"), ("h2-tls", "http")):
    proto = "https" if is_tls(t) else "http"
    case = ":scheme %s claimed" % scheme
    if out_of_time("forwarding", case, t, "XFP %s" % proto):
        continue
    res = h2_exchange(port_of(g2, t), is_tls(t), [(h2_headers(t, "/headers", authority="t", scheme=scheme),
                                                   None, None)], "127.0.0.9")
    st = res.streams.get(1, {})
    ok, what = fwd_check(st.get("body", b"").decode("latin-1"), "127.0.0.9", proto)
    record("forwarding", case, t, "XFF 127.0.0.9, XFP %s only" % proto,
           what if st.get("status") == 200 else describe(res), ok and st.get("status") == 200)

for t in ("h1",):
    case = "absolute-form GET https://t/headers on clear text"
    if out_of_time("forwarding", case, t, "XFP http"):
        continue
    res = h1_exchange(g2.port, False, h1_request("https://t/headers", host=b"t"), "127.0.0.9")
    echo = res.responses[0][2].decode("latin-1") if res.responses else ""
    ok, what = fwd_check(echo, "127.0.0.9", "http")
    ok200 = bool(res.responses) and res.responses[0][0] == 200
    record("forwarding", case, t, "XFF 127.0.0.9, XFP http only", what if ok200 else describe(res), ok and ok200)

# ---- 9. the legitimate connection, still there -------------------------------

try:
    if legit is None:
        raise OSError("it never opened")
    got = legit.get("/static/style.css")
    record("legit", "the h2 connection of the start, at the end: /static/style.css", "h2-tls", "SERVED",
           "%s %r" % got, got == (200, b"CSS\n"))
    legit.close()
except (OSError, ssl.SSLError) as e:
    record("legit", "the h2 connection of the start, at the end: /static/style.css", "h2-tls", "SERVED",
           "error %s: %s" % (type(e).__name__, e), False)

# ---- the table ---------------------------------------------------------------

for proc, name in ((g.proc, "h2guard (nginx)"), (g2.proc, "h2guard (test upstream)"), (nginx.proc, "nginx")):
    if proc.poll() is not None:
        record("processes", name + " still running at the end", "-", "running",
               "exited %s" % proc.returncode, False)

w_sec = max(len(r[0]) for r in RESULTS)
w_case = min(62, max(len(r[1]) for r in RESULTS))
w_exp = max(len(r[3]) for r in RESULTS)
log("")
log("%-4s  %-*s  %-*s  %-6s  %-*s  %s" % ("", w_sec, "section", w_case, "case", "via", w_exp, "expected", "got"))
for section, case, t, expected, got, ok in RESULTS:
    log("%-4s  %-*s  %-*s  %-6s  %-*s  %s" % ("PASS" if ok else "FAIL", w_sec, section, w_case, case[:w_case], t,
                                            w_exp, expected, got if len(got) <= 110 else got[:107] + "..."))
log("")
failed = [r for r in RESULTS if not r[5]]
by_section = {}
for r in RESULTS:
    tot, bad = by_section.get(r[0], (0, 0))
    by_section[r[0]] = (tot + 1, bad + (0 if r[5] else 1))
log("by section: " + ", ".join("%s %d/%d passed" % (s, tot - bad, tot) for s, (tot, bad) in by_section.items()))
log("banned spellings of /wp-login.php tried: %d distinct, %d spelling x transport cases"
    % (len(ban_spellings), ban_cases))
log("time: %.1f s" % (time.monotonic() - T0))
if len(ban_spellings) < 40:
    fail("only %d distinct banned spellings (the test wants at least 40)" % len(ban_spellings))
g.stop()
g2.stop()
if failed:
    fail("%d of %d cases failed: %s" % (len(failed), len(RESULTS), "; ".join(
        "%s %s [%s]" % (r[0], r[1].split("  [")[0], r[2]) for r in failed[:12]) + (" ..." if len(failed) > 12 else "")))
check(True, "all %d cases passed" % len(RESULTS))
