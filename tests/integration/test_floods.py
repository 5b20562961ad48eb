"""Flood limits: every technique of tests/flood/h2flood.py, over h2c and
TLS, against h2guard with small limits.  For each one:

  - the attacking connection is reset within a bounded number of attack
    units (the unit that crosses the limit plus one batch; for timeouts
    within the timeout + 3 s);
  - h2guard wrote no frame owed to attack units beyond the limit, and never
    a GOAWAY;
  - the ban log has a line for that connection naming the limit;
  - the upstream saw a bounded number of the attack's requests;
  - a legitimate client (127.0.0.1, long-lived connections) is served
    after each attack, and all along the slow (timeout) ones;
and h2guard's memory stays bounded.  Then browser-like load on an instance
with the default limits trips nothing.

Each attack comes from its own address 127.0.0.N, so that per-address
counters do not mix.  Rate bounds get the slack the sliding-window estimate
allows for the time the attack took (see slack()).  Checks do not stop at
the first failure: every FAIL line is listed at the end, and the exit
status is 1 if there was one (77: curl, h2load or python3-hyperframe /
python3-hpack missing).  Under AddressSanitizer, waits are longer and the
RSS bound is not checked.

  H2GUARD_BIN=build/h2guard H2GUARD_UPSTREAM=build/tests/upstream/h2guard-upstream \
  H2GUARD_SRCDIR=. PYTHONPATH=tests/integration /usr/bin/python3 tests/integration/test_floods.py
"""

import json
import math
import os
import re
import sys
import threading
import time
import traceback

from harness import H2guard, RawClient, Upstream, curl, log, need, run, sanitized, skip, tmpdir

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "flood"))
try:
    import h2flood  # noqa: E402
except ImportError as e:
    skip("tests/flood/h2flood.py needs python3-hyperframe and python3-hpack: %s" % e)

need("curl")
need("h2load")

ASAN = sanitized()
SLOW = 4 if ASAN else 1             # ASan: everything slower, give slack
PACE = 0.01 * SLOW                  # read this long after each batch
BATCH = 10                          # attack units per write
LINGER = 1.0 * SLOW                 # wait for a teardown after the last unit
TIMEOUT = 2                         # send_timeout and header_timeout, seconds
RSS_MAX_KIB = 20 * 1024

failures = []


def ok(cond, msg):
    """A check that does not stop the test."""
    if cond:
        log("ok: " + msg)
    else:
        log("FAIL: " + msg)
        failures.append(msg)
    return cond


LIMITS = {
    "ping_rate": "20/10s", "settings_rate": "20/10s", "priority_rate": "50/10s",
    "window_update_rate": "50/10s", "empty_frame_rate": "20/10s", "invalid_header_rate": "20/10s",
    "rst_rate": "50/10s", "cancel_rate": "30/10s", "stream_error_rate": "20/10s",
    "stream_rate": "200/10s", "continuations": "5", "header_fields": "100", "header_bytes": "64k",
    "client_conn_rate": "30/10s", "client_stream_rate": "400/10s",
}


def config(banlog, limits):
    return "\n".join(["ban_log %s" % banlog] + ["limit %s %s" % kv for kv in limits.items()] +
                     ["send_timeout %ds" % TIMEOUT, "header_timeout %ds" % TIMEOUT])


class BanLog:
    def __init__(self, path):
        self.path = path

    def entries(self):
        try:
            with open(self.path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def mark(self):
        return len(self.entries())

    def wait_for(self, since, client, timeout=1.0):
        """New entries for client since mark `since` (waits for the first)."""
        deadline = time.time() + timeout * SLOW
        while True:
            new = [e for e in self.entries()[since:] if e.get("client") == client]
            if new or time.time() >= deadline:
                return new
            time.sleep(0.05)


_next = [20]


def source():
    _next[0] += 1
    return "127.0.0.%d" % _next[0]


def proto(tls):
    return "TLS" if tls else "h2c"


up = Upstream()
banlog = BanLog(os.path.join(tmpdir(), "floods-ban.log"))
g = H2guard([up.addr], extra=config(banlog.path, LIMITS))


class Legit:
    """The legitimate client: long-lived HTTP/2 connections from 127.0.0.1,
    one h2c and one TLS (few new connections: client_conn_rate is 30/10s)."""

    def __init__(self, inst):
        self.inst = inst
        self.clients = {}
        self.served = 0

    def get(self, tls, path="/legit"):
        """One request on the long-lived connection; True when served.
        A lost connection is reopened (and reported by the caller)."""
        try:
            if tls not in self.clients:
                self.clients[tls] = RawClient(self.inst.tls_port if tls else self.inst.port, tls=tls,
                                              source="127.0.0.1", timeout=5.0 * SLOW)
            st, body = self.clients[tls].get(path)
            self.served += 1
            return st == 200 and body == ("ok GET %s\n" % path).encode()
        except Exception as e:     # socket errors, EOF, python-h2 protocol errors
            log("   legitimate %s connection lost: %r" % (proto(tls), e))
            self.clients.pop(tls, None)
            return False

    def close(self):
        for c in self.clients.values():
            c.close()


legit = Legit(g)
ok(legit.get(False, "/warmup") and legit.get(True, "/warmup"), "the legitimate client is served before any attack")
rss0 = g.rss_kib()
rss_peak = [rss0]
log("h2guard RSS at start: %d KiB%s" % (rss0, " (AddressSanitizer build)" if ASAN else ""))


def sample_rss():
    rss_peak[0] = max(rss_peak[0], g.rss_kib())


# ---------------------------------------------------------------------------
# Attacks that cross a limit: (attack, kwargs, limit, the unit that crosses
# it, frame types h2guard owes per unit (None: none at all), how many of
# them at most, most upstream requests).
#
# A rate is a sliding window estimated from two fixed buckets (limit.h): an
# attack straddling a bucket boundary may get up to count * seconds / window
# (+1 for rounding) more events through.  The bounds of rate limits get that
# slack, computed from how long the attack took.

ATTACKS = [
    ("rapid_reset", dict(count=1500), "cancel_rate", 31, ("HEADERS", "RST_STREAM"), 30, 31),
    # RST_STREAM(NO_ERROR) before the response is a cancel all the same.
    ("rapid_reset_no_error", dict(count=1500), "cancel_rate", 31, ("HEADERS", "RST_STREAM"), 30, 31),
    ("made_you_reset", dict(count=200), "stream_error_rate", 21, ("RST_STREAM", "HEADERS"), 20, 21),
    ("made_you_reset_content_length", dict(count=200), "stream_error_rate", 21, ("RST_STREAM", "HEADERS"), 20, 21),
    ("ping", dict(count=200), "ping_rate", 21, ("PING",), 20, 0),
    # The handshake's SETTINGS (and WINDOW_UPDATE) count too: torn down a unit earlier.
    ("settings", dict(count=200), "settings_rate", 21, ("SETTINGS",), 20, 0),
    ("priority", dict(count=500), "priority_rate", 51, None, 0, 0),
    ("priority_existing", dict(count=500), "priority_rate", 51, None, 0, 1),
    ("window_update", dict(count=500), "window_update_rate", 51, None, 0, 0),
    ("empty_data", dict(count=200), "empty_frame_rate", 21, None, 0, 1),
    ("empty_headers", dict(count=200), "empty_frame_rate", 21, ("HEADERS", "RST_STREAM"), 20, 20),
    # 3 empty names a request: the 21st invalid field is in the 7th request.
    ("zero_length_headers", dict(count=200, fields=3), "invalid_header_rate", 7, ("HEADERS", "RST_STREAM"), 6, 6),
    ("continuation", dict(count=100), "continuations", 6, None, 0, 0),
    ("header_bytes", dict(count=3, size=70000), "header_bytes", 1, None, 0, 0),
    ("hpack_bomb", dict(count=3, refs=50), "header_bytes", 1, None, 0, 0),
    ("header_fields", dict(count=3, fields=1500), "header_fields", 1, None, 0, 0),
    ("stream_rate", dict(count=400), "stream_rate", 201, ("HEADERS",), 200, 200),
    ("rst", dict(count=200), "rst_rate", 51, ("HEADERS", "RST_STREAM"), 1, 1),
    ("client_streams", dict(count=600, conns=3), "client_stream_rate", 401, ("HEADERS",), 400, 400),
]


def slack(limits, limit, seconds):
    """Extra events a sliding-window rate may let through in `seconds`."""
    v = limits[limit]
    if "/" not in v:
        return 0
    n, w = v.split("/")
    win = float(w.rstrip("s"))
    return int(math.ceil(int(n) * seconds / win)) + 1


def owed(r, types, most, extra=0):
    n = sum(r.received[t] for t in types)
    return n <= most + extra and r.received["GOAWAY"] == 0, "%s received: %d (at most %d%s), GOAWAY: %d" % (
        "+".join(types), n, most, " +%d sliding-window slack" % extra if extra else "", r.received["GOAWAY"])


def nothing(r):
    n = sum(r.received.values())
    return n == 0, "frames received after the handshake: %d %s (none owed)" % (n, dict(r.received))


def run_counted(name, kw, tls, limit, cross, types, most_owed, most_upstream, inst=g, log_=banlog, lg=legit,
                limits=LIMITS):
    src = source()
    mark = log_.mark()
    up.count(reset=True)
    what = "%s %s from %s" % (proto(tls), name, src)
    try:
        r = h2flood.run_attack(name, inst.tls_port if tls else inst.port, tls=tls, source=src, batch=BATCH,
                               pace=PACE, linger=LINGER, **kw)
    except Exception:
        ok(False, "%s: the attack raised\n%s" % (what, traceback.format_exc()))
        return
    time.sleep(0.1 * SLOW)
    seen = up.count()
    log("-- %s: %r" % (what, r))
    # How long the attack ran before its teardown (not the linger after it).
    extra = slack(limits, limit, (r.end_time - r.start_time) if r.end_time else r.seconds)
    plus = " +%d sliding-window slack" % extra if extra else ""
    bound = cross + BATCH + extra
    ok(r.end == "reset", "%s: the connection was reset (%s)" % (what, r.end))
    ok(r.end in ("reset", "eof") and r.sent <= bound,
       "%s: torn down after %d units; %s %s is crossed by unit %d (at most %d allowed: one batch%s)"
       % (what, r.sent, limit, limits[limit], cross, bound, plus))
    if types is None:
        cond, desc = nothing(r)
    else:
        cond, desc = owed(r, types, most_owed, extra)
    ok(cond, "%s: %s" % (what, desc))
    ok(seen <= most_upstream + (extra if most_upstream else 0),
       "%s: the upstream saw %d of its requests (at most %d%s)"
       % (what, seen, most_upstream, plus if most_upstream else ""))
    new = log_.wait_for(mark, src)
    hit = [e for e in new if e.get("limit") == limit and e.get("event") == "ban" and e.get("port") in r.ports]
    ok(hit and hit[0].get("protocol") == "h2",
       "%s: ban log line naming %s for the connection (got %s)"
       % (what, limit, [(e.get("limit"), e.get("port"), e.get("protocol")) for e in new] or "none"))
    ok(lg.get(tls), "%s: the legitimate %s client is served afterwards" % (what, proto(tls)))
    sample_rss()


log("== counted limits (%s)" % ", ".join("%s %s" % kv for kv in LIMITS.items()))
for name, kw, limit, cross, types, most_owed, most in ATTACKS:
    for tls in (False, True):
        run_counted(name, kw, tls, limit, cross, types, most_owed, most)

# ---------------------------------------------------------------------------
# Too many connections from one address: the excess ones are closed at once
# (for TLS before any TLS byte: the handshake fails).
log("== client_conn_rate %s" % LIMITS["client_conn_rate"])
for tls in (False, True):
    src = source()
    mark = banlog.mark()
    up.count(reset=True)
    what = "%s conn_flood from %s" % (proto(tls), src)
    r = h2flood.run_attack("conn_flood", g.tls_port if tls else g.port, tls=tls, source=src, count=40,
                           linger=LINGER)
    seen = up.count()
    log("-- %s: %r" % (what, r))
    served, closed = r.extra.get("served", 0), r.extra.get("closed", 0)
    extra = slack(LIMITS, "client_conn_rate", r.seconds)
    ok(served <= 30 + extra and closed >= 10 - extra, "%s: %d of 40 connections served (at most 30 +%d sliding-window "
       "slack over %.1f s), %d closed" % (what, served, extra, r.seconds, closed))
    ok(closed > 0 and r.extra.get("ends", {}).get("timeout", 0) == 0 and r.received["GOAWAY"] == 0,
       "%s: the excess connections were closed, not left hanging: %s, no GOAWAY" % (what, r.extra.get("ends")))
    if tls:
        ok(closed > 0 and set(r.extra.get("closed_at", {})) <= {"connect", "tls_handshake"},
           "%s: closed before the TLS handshake completed: %s" % (what, r.extra.get("closed_at")))
    ok(seen <= served, "%s: the upstream saw %d requests (at most one per connection served)" % (what, seen))
    new = banlog.wait_for(mark, src)
    ok(any(e.get("limit") == "client_conn_rate" for e in new),
       "%s: ban log names client_conn_rate (got %s)" % (what, sorted({e.get("limit") for e in new}) or "none"))
    ok(legit.get(tls), "%s: the legitimate %s client is served afterwards" % (what, proto(tls)))

# ---------------------------------------------------------------------------
# Timeouts, all at once (each from its own address), while the legitimate
# client keeps asking on both of its connections.
log("== timeouts: send_timeout %ds, header_timeout %ds (run concurrently)" % (TIMEOUT, TIMEOUT))
SLOW_ATTACKS = [("slow_read", "send_timeout", "h2"), ("zero_window", "send_timeout", "h2"),
                ("slow_read_http1", "send_timeout", "http/1.1"),
                ("slow_headers", "header_timeout", "h2"), ("slowloris", "header_timeout", "http/1.1")]
wait = TIMEOUT + 3 + (4 if ASAN else 0)         # the teardown must come by then
jobs = []
mark = banlog.mark()
up.count(reset=True)
for name, limit, protocol in SLOW_ATTACKS:
    for tls in (False, True):
        jobs.append({"name": name, "limit": limit, "protocol": protocol, "tls": tls, "src": source()})


def run_job(j):
    try:
        j["r"] = h2flood.run_attack(j["name"], g.tls_port if j["tls"] else g.port, tls=j["tls"], source=j["src"],
                                    linger=wait,
                                    count=4 if j["name"] in ("slow_read", "zero_window", "slow_read_http1") else 1000)
    except Exception:
        j["exc"] = traceback.format_exc()


legit_stats = {"ok": 0, "bad": 0, "max_s": 0.0}
stop_legit = threading.Event()


def legit_loop():
    n = 0
    while not stop_legit.is_set() and n < 400:
        for tls in (False, True):
            t = time.time()
            good = legit.get(tls, "/during")
            legit_stats["ok" if good else "bad"] += 1
            legit_stats["max_s"] = max(legit_stats["max_s"], time.time() - t)
        n += 1
        sample_rss()
        time.sleep(0.2)


threads = [threading.Thread(target=run_job, args=(j,)) for j in jobs]
lt = threading.Thread(target=legit_loop)
lt.start()
for t in threads:
    t.start()
for t in threads:
    t.join(wait + 30)
stop_legit.set()
lt.join(30)
during = legit_stats["ok"] + legit_stats["bad"]
seen = up.count() - legit_stats["ok"] - legit_stats["bad"]
for j in jobs:
    what = "%s %s from %s" % ("TLS" if j["tls"] else "clear-text" if j["protocol"] != "h2" else "h2c", j["name"],
                              j["src"])
    if "exc" in j or "r" not in j:
        ok(False, "%s: the attack raised\n%s" % (what, j.get("exc", "(still running)")))
        continue
    r = j["r"]
    log("-- %s: %r" % (what, r))
    after = r.extra.get("after_request_s", r.extra.get("after_start_s", r.seconds))
    ok(r.end == "reset" and after <= wait,
       "%s: reset %.1f s after the request (%s %ds, at most %d s): %s"
       % (what, after, j["limit"], TIMEOUT, wait, r.end))
    if j["name"] == "zero_window":
        cond, desc = owed(r, ("DATA",), 0)
        ok(cond, "%s: %s (the window is 0)" % (what, desc))
    elif j["name"] == "slow_headers":
        cond, desc = nothing(r)
        ok(cond, "%s: %s" % (what, desc))
    elif j["name"] == "slowloris":
        ok(r.bytes_received == 0, "%s: not one byte sent back (%d)" % (what, r.bytes_received))
    else:
        ok(r.received["GOAWAY"] == 0, "%s: no GOAWAY" % what)
    new = banlog.wait_for(mark, j["src"])
    hit = [e for e in new if e.get("limit") == j["limit"] and e.get("port") in r.ports]
    ok(hit and hit[0].get("protocol") == j["protocol"],
       "%s: ban log line naming %s, protocol %s (got %s)" % (what, j["limit"], j["protocol"],
                                                          [(e.get("limit"), e.get("protocol")) for e in new] or "none"))
ok(seen <= 24, "timeouts: the upstream saw %d of the attacks' requests (4 slow_read/zero_window bodies "
   "each connection: at most 24)" % seen)
ok(legit_stats["bad"] == 0 and legit_stats["ok"] > 10,
   "the legitimate client was served all along: %d of %d requests, slowest %.2f s"
   % (legit_stats["ok"], during, legit_stats["max_s"]))
ok(legit_stats["max_s"] < 2.0 * SLOW, "the legitimate client never waited long (slowest %.2f s)" % legit_stats["max_s"])

# ---------------------------------------------------------------------------
# MadeYouReset by WINDOW_UPDATE 0 or DATA on a half-closed stream, for
# information: nghttp2 1.52 treats both as connection errors (GOAWAY), so
# they are no stream-reset flood.
log("== information only (not checked)")
for name in ("made_you_reset_window_update", "made_you_reset_data"):
    try:
        r = h2flood.run_attack(name, g.port, source=source(), count=200, batch=BATCH, pace=PACE, linger=LINGER)
        log("info: h2c %s: %r goaway=%r" % (name, r, r.goaway))
    except Exception as e:
        log("info: h2c %s raised %r" % (name, e))

r = curl(["--http2", "--interface", "127.0.0.1", g.tls_url + "/curl"], check_rc=False)
ok(r.out == "ok GET /curl\n", "curl --http2 from 127.0.0.1 is served at the end (%r)" % r.out[:80])
sample_rss()
rss1 = g.rss_kib()
log("h2guard RSS: %d KiB at start, %d KiB at the end, peak sampled %d KiB" % (rss0, rss1, rss_peak[0]))
if ASAN:
    # ASan's quarantine keeps freed memory resident: the figure means nothing.
    log("AddressSanitizer build: RSS bound not checked")
else:
    ok(rss1 - rss0 < RSS_MAX_KIB and rss_peak[0] - rss0 < RSS_MAX_KIB,
       "h2guard RSS grew %d KiB by the end, %d KiB at the sampled peak (under %d KiB) through every flood"
       % (rss1 - rss0, rss_peak[0] - rss0, RSS_MAX_KIB))
legit.close()

# ---------------------------------------------------------------------------
# `limit streams 50`: streams over a connection's life (its own instance).
log("== limit streams 50")
banlog2 = BanLog(os.path.join(tmpdir(), "floods-ban2.log"))
g2 = H2guard([up.addr], extra="ban_log %s\nlimit streams 50\n" % banlog2.path)
legit2 = Legit(g2)
for tls in (False, True):
    run_counted("streams", dict(count=100), tls, "streams", 51, ("HEADERS",), 50, 50,
                inst=g2, log_=banlog2, lg=legit2, limits={"streams": "50"})
legit2.close()

# ---------------------------------------------------------------------------
# Browser-like load trips nothing with the default limits.
log("== browser-like load, default limits")
banlog3 = BanLog(os.path.join(tmpdir(), "floods-ban3.log"))
g3 = H2guard([up.addr], extra="ban_log %s\n" % banlog3.path)
for url, name in ((g3.url, "h2c"), (g3.tls_url, "TLS")):
    r = run(["h2load", "-n", "2000", "-c", "1", "-m", "100", url + "/load"], timeout=120, check_rc=False)
    m = re.search(r"(\d+) succeeded, (\d+) failed", r.out)
    alpn = re.search(r"Application protocol: (\S+)", r.out)
    ok(m and m.group(1) == "2000" and m.group(2) == "0" and alpn and alpn.group(1) in ("h2", "h2c"),
       "h2load -n 2000 -c 1 -m 100 over %s (%s): %s" % (name, alpn.group(1) if alpn else "?",
                                                        m.group(0) if m else r.out[-300:]))

# TLS only: curl 7.88 --parallel with --http2-prior-knowledge fails all but
# one transfer ("Error in the HTTP2 framing layer") against nghttpx too.
for base, flag, name in ((g3.tls_url, "--http2", "TLS"),):
    urls = [base + "/par/%d" % i for i in range(100)]
    r = curl(["--parallel", "--parallel-max", "100", flag, "-w", "\\nCODE=%{http_code} NC=%{num_connects} "
              "V=%{http_version}\\n"] + urls, timeout=60, check_rc=False)
    codes = re.findall(r"CODE=(\d+) NC=(\d+) V=(\S+)", r.out)
    conns = sum(int(nc) for _, nc, _ in codes)
    ok(len(codes) == 100 and all(c == "200" and v == "2" for c, _, v in codes),
       "curl --parallel --parallel-max 100 %s over %s: %d of 100 answered 200 over HTTP/2"
       % (flag, name, sum(1 for c, _, v in codes if c == "200" and v == "2")))
    ok(conns == 1, "curl multiplexed the 100 requests on %d connection(s)" % conns)

for tls in (False, True):
    c = RawClient(g3.tls_port if tls else g3.port, tls=tls, timeout=5.0 * SLOW)
    t0 = time.time()
    good = 0
    try:
        for i in range(500):
            if c.get("/seq/%d" % i) == (200, ("ok GET /seq/%d\n" % i).encode()):
                good += 1
    except (OSError, ConnectionError) as e:
        log("   sequential requests: %r" % e)
    c.close()
    ok(good == 500, "one long-lived %s connection: %d of 500 sequential requests served (%.1f s)"
       % (proto(tls), good, time.time() - t0))

for tls in (False, True):
    c = h2flood.FloodConn(g3.tls_port if tls else g3.port, tls=tls, source="127.0.0.1")
    pings = 0
    for i in range(20):
        c.send(h2flood.f_ping(b"%08d" % i))
        c.request("/between/%d" % i)
        end_by = time.time() + 2 * SLOW
        while (c.received["PING"] < i + 1 or c.open) and not c.end and time.time() < end_by:
            c.pump(end_by - time.time())
        pings = c.received["PING"]
        time.sleep(0.2)
    ok(not c.end and pings == 20 and c.responses == 20 and c.received["GOAWAY"] == 0,
       "a %s client sending a PING every 0.2 s for 4 s between requests: %d PING ACKs, %d responses, %s"
       % (proto(tls), pings, c.responses, c.end or "still open"))
    c.close()
time.sleep(0.2)
ok(banlog3.entries() == [], "the browser-like load wrote nothing to the ban log (%s)"
   % [e.get("limit") for e in banlog3.entries()])

# ---------------------------------------------------------------------------
for inst in (g, g2, g3):
    inst.stop()
# Each teardown is counted; h2guard says how many when it stops.
m = re.search(r"(\d+) torn down by ban rules, (\d+) by flood limits", g3.log())
ok(m is not None and m.group(2) == "0", "the browser-like instance counted no flood at stop: %s"
   % (m.group(0) if m else "no stop line"))
m = re.search(r"\((\d+) banned addresses, (\d+) client_conn_rate[^)]*\), (\d+) torn down by ban rules, "
              r"(\d+) by flood limits", g.log())
floods = len([e for e in banlog.entries() if e.get("conn", 0) != 0])
ok(m is not None and int(m.group(4)) == floods and int(m.group(2)) > 0,
   "the attacked instance counted its %d flood teardowns and its accept-time drops at stop: %s"
   % (floods, m.group(0) if m else "no stop line"))
for f in failures:
    log("FAILED: " + f.splitlines()[0])
log("== %d failure(s)" % len(failures))
up.stop()
sys.exit(1 if failures else 0)
