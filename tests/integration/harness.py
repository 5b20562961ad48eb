"""Shared pieces of the integration tests.

Every test starts the real h2guard binary on 127.0.0.1 with free ports, in
front of the real test upstream (tests/upstream/h2guard-upstream), and drives
it with real clients (curl, nghttp, h2load, python3-h2, raw sockets).

Environment (set by `make check`): H2GUARD_BIN, H2GUARD_UPSTREAM,
H2GUARD_SRCDIR; optional H2SPEC.  A test that lacks an optional tool exits 77
(skip); it never passes silently.

H2GUARD_TEST_WORKERS=N (optional; CI's ThreadSanitizer run sets 2) adds
`workers N` to the configuration of every H2guard a test starts, unless the
test sets `workers` itself (a test that depends on one worker says
`workers 1` and why).  A ThreadSanitizer report in an h2guard's log fails
the test, the report printed whole.
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77

BIN = os.environ.get("H2GUARD_BIN", "h2guard")
UPSTREAM_BIN = os.environ.get("H2GUARD_UPSTREAM", "h2guard-upstream")
SRCDIR = os.environ.get("H2GUARD_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))

WORKERS = os.environ.get("H2GUARD_TEST_WORKERS", "")
if WORKERS and not (WORKERS == "auto" or (WORKERS.isdigit() and int(WORKERS) >= 1)):
    sys.exit("H2GUARD_TEST_WORKERS=%r: a number of workers (1..) or auto" % WORKERS)

_procs = []
_h2guards = []
_tmp = tempfile.mkdtemp(prefix="h2guard-test-")

_TSAN_START = "WARNING: ThreadSanitizer:"
_TSAN_SEP = "=================="


def tsan_reports(text):
    """The ThreadSanitizer reports in text (an h2guard log), each whole."""
    reports = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(_TSAN_START):
            j = i + 1
            while j < len(lines) and lines[j] != _TSAN_SEP:
                j += 1
            reports.append("\n".join(lines[i:j]))
    return reports


def _tsan_check():
    """Prints the ThreadSanitizer reports of every h2guard started so far;
    True when there was one.  A report makes h2guard exit non-zero (TSAN_OPTIONS
    exitcode) and so fails stop(); this also catches those of an h2guard the
    test never stopped, and shows the whole report when the test failed for
    another reason first."""
    found = False
    for g in _h2guards:
        try:
            reports = tsan_reports(g.log())
        except OSError:
            continue
        found = found or bool(reports)
        if g.tsan_shown:
            continue
        for r in reports:
            print("==== ThreadSanitizer report of h2guard %s:\n%s" % (g.conf, r), flush=True)
    return found


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    tsan = _tsan_check()
    shutil.rmtree(_tmp, ignore_errors=True)
    if tsan:
        print("FAIL: ThreadSanitizer reported on h2guard (see above)", flush=True)
        sys.stdout.flush()
        os._exit(1)


atexit.register(_cleanup)


def tmpdir():
    return _tmp


def log(*args):
    print(*args, flush=True)


def fail(msg):
    log("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    log("ok: " + msg)


def skip(msg):
    log("SKIP: " + msg)
    sys.exit(SKIP)


def need(tool):
    path = shutil.which(tool)
    if path is None:
        skip(tool + " is not installed")
    return path


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def run(cmd, timeout=60, check_rc=True, input=None):
    """Runs cmd (a list); returns CompletedProcess with text stdout/stderr."""
    r = subprocess.run(cmd, capture_output=True, timeout=timeout, input=input)
    r.out = r.stdout.decode("utf-8", "replace")
    r.err = r.stderr.decode("utf-8", "replace")
    if check_rc and r.returncode != 0:
        fail("%s exited %d\nstdout: %s\nstderr: %s" % (" ".join(cmd), r.returncode, r.out[-2000:], r.err[-2000:]))
    return r


def read_all(sock):
    """Reads sock until EOF; returns the bytes."""
    chunks = []
    while True:
        d = sock.recv(65536)
        if not d:
            return b"".join(chunks)
        chunks.append(d)


def make_cert():
    """Returns (cert, key) paths of a fresh self-signed EC certificate."""
    cert = os.path.join(_tmp, "cert.pem")
    key = os.path.join(_tmp, "key.pem")
    if not os.path.exists(cert):
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
             "-keyout", key, "-out", cert])
    return cert, key


class Upstream:
    """The test upstream: counts requests, echoes, slow/silent endpoints."""

    def __init__(self, listen="127.0.0.1:0"):
        self.proc = subprocess.Popen([UPSTREAM_BIN, "--listen", listen],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _procs.append(self.proc)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY "):
            fail("upstream did not start: %r %s" % (line, self.proc.stderr.read().decode()))
        self.port = int(line.split()[1])
        self.addr = "127.0.0.1:%d" % self.port

    def get(self, path):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
            data = read_all(s)
        return data.split(b"\r\n\r\n", 1)[1].decode()

    def count(self, reset=False):
        return int(self.get("/__count" + ("?reset=1" if reset else "")).strip())

    def conns(self):
        d = dict(kv.split("=") for kv in self.get("/__conns").split())
        return int(d["accepted"]), int(d["open"])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _sets_workers(extra):
    """Whether the configuration lines extra set the workers key."""
    for line in extra.splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0] == "workers":
            return True
    return False


class H2guard:
    """The real h2guard binary with a generated configuration.

    Listens on a clear-text port (h2c + HTTP/1.1) and, when tls, a TLS port;
    with admin, an admin listener on admin_port too.  extra: more
    configuration lines.  upstreams: list of "host:port" strings.
    """

    def __init__(self, upstreams, tls=True, extra="", ipv6=False, admin=False):
        self.tsan_shown = False
        # free_port() races with tests running in parallel: another one may
        # bind the port first.  h2guard then exits; start again elsewhere.
        for attempt in range(5):
            if self._start(upstreams, tls, extra, ipv6, admin):
                return
            if "Address already in use" not in self.log():
                break
        fail("h2guard did not start:\n" + self.log())

    def _start(self, upstreams, tls, extra, ipv6, admin):
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.port6 = free_port("::1") if ipv6 else None
        self.admin_port = free_port() if admin else None
        lines = ["# generated by the integration tests",
                 "listen 127.0.0.1:%d" % self.port]
        if tls:
            cert, key = make_cert()
            lines += ["listen 127.0.0.1:%d tls" % self.tls_port,
                      "tls_certificate %s" % cert,
                      "tls_certificate_key %s" % key]
        if ipv6:
            lines.append("listen [::1]:%d" % self.port6)
        if admin:
            lines.append("admin_listen 127.0.0.1:%d" % self.admin_port)
        for u in upstreams:
            lines.append("upstream %s" % u)
        lines.append(extra)
        if WORKERS and not _sets_workers(extra):
            lines.append("workers %s  # H2GUARD_TEST_WORKERS" % WORKERS)
        self.conf = os.path.join(_tmp, "h2guard-%d.conf" % self.port)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.logpath = self.conf + ".log"
        self.logf = open(self.logpath, "wb")
        self.proc = subprocess.Popen([BIN, "-c", self.conf], stdout=self.logf, stderr=self.logf)
        _procs.append(self.proc)
        if self not in _h2guards:
            _h2guards.append(self)
        for p in (self.port, self.tls_port, self.admin_port):
            if p and not wait_port(p, proc=self.proc):
                if self.proc.poll() is None:
                    self.proc.kill()
                self.proc.wait()
                self.logf.close()
                return False
        self.url = "http://127.0.0.1:%d" % self.port
        self.tls_url = "https://127.0.0.1:%d" % self.tls_port if tls else None
        return True

    def log(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        """SIGTERM; fails the test unless h2guard exits 0 (sanitizers report leaks by exit code)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                fail("h2guard did not stop on SIGTERM\n" + self.log()[-3000:])
        self.logf.close()
        if self.proc.returncode != 0:
            text = self.log()
            reports = tsan_reports(text)
            if reports:
                self.tsan_shown = True
                fail("h2guard exited %d with %d ThreadSanitizer report(s):\n%s"
                     % (self.proc.returncode, len(reports), ("\n" + _TSAN_SEP + "\n").join(reports)))
            fail("h2guard exited %d\n%s" % (self.proc.returncode, text[-6000:]))


def curl(args, timeout=60, check_rc=True):
    """Runs curl -sS with args; returns CompletedProcess (out = body)."""
    return run(["curl", "-sS", "-k", "--max-time", str(timeout)] + args, timeout=timeout + 5, check_rc=check_rc)


def wait_for(pred, timeout=5.0):
    """True as soon as pred() is, polling for up to timeout seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def admin(g, method, path, data=None):
    """(status, body) of a request to g's admin listener (H2guard(admin=True))."""
    args = ["-X", method, "-o", "-", "-w", "\n%{http_code}", "http://127.0.0.1:%d%s" % (g.admin_port, path)]
    if data is not None:
        args += ["-d", data]
    r = curl(args, timeout=10, check_rc=False)
    body, _, code = r.out.rpartition("\n")
    return int(code or 0), body


def metrics(g):
    """GET /metrics of g's admin listener (H2guard(admin=True)): {series: value}."""
    code, body = admin(g, "GET", "/metrics")
    check(code == 200, "GET /metrics answers 200")
    vals = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            vals[k] = float(v)
    return vals


def served(g, source, path="/x", port=None, host="127.0.0.1"):
    """Whether g serves GET path (the test upstream's answer) to curl bound to
    source, on port (default g.port) of host."""
    url = "http://%s:%d%s" % ("[%s]" % host if ":" in host else host, port or g.port, path)
    r = curl(["--interface", source, url], timeout=5, check_rc=False)
    return r.out == "ok GET %s\n" % path


def closed_at_accept(source, port):
    """Whether a connection from source to 127.0.0.1:port is closed without a
    byte of answer (an accept-time close).  A connect that times out raises."""
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(3)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        return s.recv(100) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    finally:
        s.close()


TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    """User + system CPU time of pid so far, in clock ticks (TICK a second)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_s(pid):
    """User + system CPU time of pid so far, in seconds."""
    return cpu_ticks(pid) / TICK


def pattern(n):
    """The bytes /bytes/N of the test upstream returns: byte i is i % 251."""
    block = bytes(range(251))
    return (block * (n // 251 + 1))[:n]


def has_ban_share():
    """False when h2guard was built without hiredis (it refuses ban_share)."""
    probe = os.path.join(_tmp, "probe-ban-share.conf")
    with open(probe, "w") as f:
        f.write("listen 127.0.0.1:1\nupstream 127.0.0.1:2\nban_share redis://127.0.0.1:6379\n")
    r = subprocess.run([BIN, "-t", "-c", probe], capture_output=True, text=True)
    return "built without hiredis" not in r.stderr


def sanitized():
    """True when h2guard was built with AddressSanitizer or ThreadSanitizer, or
    runs under valgrind (tests/valgrind.sh): memory and CPU figures differ."""
    if os.environ.get("H2GUARD_VALGRIND"):
        return True
    r = subprocess.run(["ldd", BIN], capture_output=True)
    return b"libasan" in r.stdout or b"libtsan" in r.stdout


class RawUpstream:
    """A hand-written HTTP/1.1 upstream for behaviours evhttp cannot show.

    handler(conn_index, nth_request_on_conn, head_bytes) returns
    (response_bytes, close_after); request bodies are not read.  A subclass
    may override answer() instead, to write to the socket itself.
    It answers one request at a time per connection, in a thread.
    """

    def __init__(self, handler=None):
        import threading
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.accepted = 0
        self.requests = 0
        self.closed = 0
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()

    def _accept(self):
        import threading
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(c, self.accepted), daemon=True).start()

    def answer(self, c, idx, nth, head, rest):
        """Answers one request on socket c, rest being the bytes read after its
        head; returns (keep the connection, the bytes of rest not consumed)."""
        resp, close = self.handler(idx, nth, head)
        if resp:
            c.sendall(resp)
        return not close, rest

    def _serve(self, c, idx):
        buf = b""
        nth = 0
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                self.requests += 1
                nth += 1
                keep, buf = self.answer(c, idx, nth, head, buf)
                if not keep:
                    return
        except OSError:
            pass
        finally:
            self.closed += 1
            c.close()


class RawClient:
    """A client socket that counts every byte the server sends, TLS included.

    TLS runs over ssl.MemoryBIO so that the bytes on the wire, alerts and
    close_notify too, are what recv_raw() counts.  With h2=True it does the
    HTTP/2 handshake with python3-h2 and can then send header blocks.
    """

    def __init__(self, port, tls=False, h2=True, source="127.0.0.1", timeout=5.0, drain=True):
        import ssl
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.tls = None
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"] if h2 else ["http/1.1"])
            self.inb, self.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.tls = ctx.wrap_bio(self.inb, self.outb, server_hostname="localhost")
            while True:
                try:
                    self.tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    self._flush()
                    d = self.sock.recv(65536)
                    if not d:
                        raise ConnectionError("EOF during the TLS handshake")
                    self.inb.write(d)
            self._flush()
        if tls and drain:
            # TLS 1.3 session tickets follow the handshake: take them now,
            # so that what recv_raw() counts later is only what came after.
            self.sock.settimeout(0.3)
            try:
                while True:
                    d = self.sock.recv(65536)
                    if not d:
                        break
                    self.inb.write(d)
            except socket.timeout:
                pass
            self.sock.settimeout(timeout)
        self.h2 = None
        if h2:
            import h2.config
            import h2.connection
            import h2.events
            self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            self.h2.initiate_connection()
            self.send(self.h2.data_to_send())
            got_settings = got_ack = False
            while not (got_settings and got_ack):
                for ev in self.h2.receive_data(self.recv()):
                    if isinstance(ev, h2.events.RemoteSettingsChanged):
                        got_settings = True
                    if isinstance(ev, h2.events.SettingsAcknowledged):
                        got_ack = True
                self.send(self.h2.data_to_send())

    def _flush(self):
        d = self.outb.read()
        if d:
            self.sock.sendall(d)

    def send(self, data):
        if not data:
            return
        if self.tls:
            self.tls.write(data)
            self._flush()
        else:
            self.sock.sendall(data)

    def recv(self):
        """Application bytes (decrypted); raises on EOF."""
        import ssl
        if not self.tls:
            d = self.sock.recv(65536)
            if not d:
                raise ConnectionError("EOF")
            return d
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                d = self.sock.recv(65536)
                if not d:
                    raise ConnectionError("EOF")
                self.inb.write(d)

    def requests(self, paths, method="GET", authority="localhost"):
        """Encodes one HEADERS frame (END_STREAM) per path; returns the bytes, unsent."""
        for p in paths:
            sid = self.h2.get_next_available_stream_id()
            self.h2.send_headers(sid, [(":method", method), (":path", p), (":scheme", "https" if self.tls else "http"),
                                       (":authority", authority), ("user-agent", "test")], end_stream=True)
        return self.h2.data_to_send()

    def get(self, path):
        """One request on this HTTP/2 connection; returns (status, body)."""
        import h2.events
        self.send(self.requests([path]))
        sid = self.h2.highest_outbound_stream_id
        status, body = None, b""
        while True:
            for ev in self.h2.receive_data(self.recv()):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    status = int(dict(ev.headers)[b":status"])
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    body += ev.data
                    self.h2.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    self.send(self.h2.data_to_send())
                    return status, body
            self.send(self.h2.data_to_send())

    def send_raw_tcp(self, data):
        """Sends data, encrypted when TLS, in one write."""
        if self.tls:
            self.tls.write(data)
            self.sock.sendall(self.outb.read())
        else:
            self.sock.sendall(data)

    def recv_raw(self):
        """Reads the TCP stream to its end: returns (bytes received, "eof" | "reset" | "timeout")."""
        n = 0
        while True:
            try:
                d = self.sock.recv(65536)
            except ConnectionResetError:
                return n, "reset"
            except socket.timeout:
                return n, "timeout"
            if not d:
                return n, "eof"
            n += len(d)

    def close(self):
        self.sock.close()
