"""The options of the canonical view and the bounds of regex rules, with the
real binary, the test upstream (its /headers answer shows the request head
it got, `uri:` first) and raw clients.

- path_escaped_slashes keep / decode / reject, header_underscores drop /
  allow / reject: what reaches the upstream, and the 400s;
- regex rules on 60 KiB inputs: a matching path is banned, a match that
  hits its bound fails closed (banned, counted, logged once), or open with
  rule_errors open;
- several workers matching the same regex rules under load: every
  legitimate request served, every banned connection torn down.
"""

import json
import os
import re
import socket
import threading
import time

from harness import H2guard, RawClient, Upstream, check, metrics, need, run, tmpdir

up = Upstream()


def h1(g, raw, source="127.0.0.1"):
    """Sends one raw HTTP/1.1 request (Connection: close); returns (head + body bytes, how it ended)."""
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", g.port))
    s.sendall(raw)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return data, "eof"
            data += d
    except ConnectionResetError:
        return data, "reset"
    except socket.timeout:
        return data, "timeout"
    finally:
        s.close()


def get(g, target, extra=b"", source="127.0.0.1"):
    return h1(g, b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n" + extra + b"Connection: close\r\n\r\n", source)


def uri_seen(data):
    m = re.search(rb"\r\n\r\nmethod: GET\nuri: (\S+)\n", data)
    return m.group(1) if m else None


# ---- path_escaped_slashes ----------------------------------------------------
for mode, want in (("keep", b"/headers/a%2Fb"), ("decode", b"/headers/a/b"), ("reject", None)):
    g = H2guard([up.addr], tls=False, extra="kernel_drop off\npath_escaped_slashes %s\n" % mode)
    data, how = get(g, b"/headers/a%2fb")
    if want is None:
        check(data.startswith(b"HTTP/1.1 400 "), "path_escaped_slashes reject: %2F answered 400")
    else:
        check(data.startswith(b"HTTP/1.1 ") and uri_seen(data) == want,
              "path_escaped_slashes %s: %%2f reaches the upstream as %s (%r)" % (mode, want.decode(), uri_seen(data)))
    data, how = get(g, b"/headers/a/./b")
    check(uri_seen(data) == b"/headers/a/b", "path_escaped_slashes %s: /a/./b forwarded as /a/b" % mode)
    g.stop()

# ---- header_underscores --------------------------------------------------------
RULE = 'kernel_drop off\nheader_underscores %s\nrule tok header x-token exact banned ban\n'
for mode in ("drop", "allow", "reject"):
    g = H2guard([up.addr], tls=False, extra=RULE % mode)
    data, how = get(g, b"/headers", b"X_Token: fine\r\nX-Other: 1\r\n")
    if mode == "reject":
        check(data.startswith(b"HTTP/1.1 400 "), "header_underscores reject: X_Token answered 400")
    else:
        seen = b"x_token: fine" in data.lower()
        check(data.startswith(b"HTTP/1.1 200 ") and seen == (mode == "allow") and b"x-other: 1" in data.lower(),
              "header_underscores %s: X_Token %s the upstream" % (mode, "reaches" if mode == "allow" else "never reaches"))
    # The rules see X_Token as X-Token (reject refuses it before them).
    data, how = get(g, b"/headers", b"X_Token: banned\r\n", source="127.0.0.3")
    if mode == "reject":
        check(data.startswith(b"HTTP/1.1 400 "), "header_underscores reject: X_Token: banned answered 400")
    else:
        check(data == b"" and how == "reset", "header_underscores %s: X_Token: banned is a ban (%r, %s)"
              % (mode, data[:40], how))
    g.stop()

# ---- regex bounds ---------------------------------------------------------------
banlog = os.path.join(tmpdir(), "ban-opts.log")
RULES = """kernel_drop off
ban_log %s
rule abc path regex "^/(?:(a)|(b))*c$" ban
rule quad query regex ".*.*=.*;" ban
rule ok path prefix /ok allow
"""
g = H2guard([up.addr], tls=False, admin=True, extra=RULES % banlog + "rule_errors closed\n")
long_match = b"/" + b"a" * 60000 + b"c"
data, how = get(g, long_match, source="127.0.0.3")
check(data == b"" and how == "reset", "a 60 KB path matching ^/(?:(a)|(b))*c$ is banned")
check(metrics(g).get("h2guard_rule_errors_total", -1) == 0, "... by a real match, not a failed one")
data, how = get(g, b"/" + b"a" * 60000 + b"d")
check(data.startswith(b"HTTP/1.1 404 ") or data.startswith(b"HTTP/1.1 200 "),
      "a 60 KB path that does not match is forwarded (%r)" % data[:20])
quad = b"/x?;" + b"a" * 60000 + b"="
t0 = time.monotonic()
for i in range(3):
    data, how = get(g, quad, source="127.0.0.3")
    check(data == b"" and how == "reset", "a 60 KB query on which .*.*=.*; hits its bound fails closed: banned")
m = metrics(g)
check(m.get("h2guard_rule_errors_total") == 3, "h2guard_rule_errors_total counts the 3 failed matches")
warnings = [l for l in g.log().splitlines() if "rule quad: a pattern match failed" in l]
check(len(warnings) == 1, "the failure is logged once for the rule (%d lines)" % len(warnings))
with open(banlog) as f:
    lines = [json.loads(l) for l in f if l.strip()]
check(lines[-1]["rule"] == "quad" and lines[-1]["event"] == "ban", "the ban log names rule quad")
data, how = get(g, b"/x?%zz=1")
check(data.startswith(b"HTTP/1.1 "), "a malformed escape in the query is passed on (the application's business)")
data, how = get(g, b"/a%zz")
check(data.startswith(b"HTTP/1.1 400 "), "a malformed escape in the path is a 400")
check(metrics(g).get("h2guard_bad_requests_total") == 1, "h2guard_bad_requests_total counts it")
g.stop()

g = H2guard([up.addr], tls=False, extra=RULES % banlog + "rule_errors open\n")
data, how = get(g, b"/headers?;" + b"a" * 60000 + b"=")
check(data.startswith(b"HTTP/1.1 200 "), "rule_errors open: the same query is forwarded")
g.stop()

# ---- several workers matching the same rules under load ------------------------
need("h2load")
WORKERS = """kernel_drop off
workers 2
limit client_stream_rate off
limit stream_rate off
rule wp   path regex "^/wp-login\\\\.php" ban
rule sqli query regex "(?i)union\\\\s+select" ban
rule env  path regex "\\\\.env$" ban
rule ua   header user-agent regex "(?i)sqlmap|nikto" ban
"""
g = H2guard([up.addr], extra=WORKERS)
results = {"banned": 0, "other": []}


def attacker():
    paths = ["/wp-login.php", "/x?id=1%20UNION%20SELECT%201", "/a/.env", "/%77p-login.php"]
    deadline = time.monotonic() + 60
    for i in range(120):
        if time.monotonic() > deadline:
            break
        c = RawClient(g.tls_port if i % 2 else g.port, tls=bool(i % 2), source="127.0.0.%d" % (3 + i % 5))
        c.send_raw_tcp(c.requests(["/ok", paths[i % len(paths)], "/ok2"]))
        n, how = c.recv_raw()
        c.close()
        if n == 0 and how == "reset":
            results["banned"] += 1
        else:
            results["other"].append((paths[i % len(paths)], n, how))


t = threading.Thread(target=attacker)
t.start()
loads = []
for url in (g.url, g.tls_url):
    loads.append(run(["h2load", "-n", "20000", "-c", "8", "-m", "8", "-H", "user-agent: Mozilla/5.0",
                      url + "/static/app.js?v=1&q=select"], timeout=120))
t.join(90)
for url, r in zip((g.url, g.tls_url), loads):
    check("20000 succeeded, 0 failed" in r.out and "20000 2xx" in r.out,
          "2 workers, h2load -c 8 -m 8 through 4 regex rules (%s): 20000 of 20000 served" % url)
check(results["banned"] == 120 and not results["other"],
      "meanwhile 120 connections with a banned request were torn down silently (%d; %s)"
      % (results["banned"], results["other"][:3]))
g.stop()
up.stop()
