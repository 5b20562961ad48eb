"""Many concurrent streams on one connection (h2load -m 100), over TLS and
h2c: every response correct, every request reaches the upstream once."""

import re

from harness import H2guard, Upstream, check, need, run

need("h2load")
up = Upstream()
g = H2guard([up.addr])

for url in (g.tls_url, g.url):
    up.count(reset=True)
    # One connection, 100 streams at a time, 2000 requests in all.
    r = run(["h2load", "-n", "2000", "-c", "1", "-m", "100", url + "/bytes/2000?cl=1"], timeout=120)
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed", r.out)
    codes = re.search(r"status codes: (\d+) 2xx", r.out)
    check(m and m.group(4) == "2000" and m.group(5) == "0", "h2load %s: 2000 of 2000 succeeded" % url)
    check(codes and codes.group(1) == "2000", "all 2000 answered 200")
    traffic = re.search(r"traffic: .*\((\d+)\) total, .*\((\d+)\) headers.*\((\d+)\) data", r.out)
    check(traffic and int(traffic.group(3)) == 2000 * 2000, "every response body complete (%s data bytes)"
          % (traffic.group(3) if traffic else "?"))
    check(up.count() == 2000, "the upstream received each request once")

# Many connections at once, each with several streams, on both ports.
r = run(["h2load", "-n", "3000", "-c", "30", "-m", "10", g.url + "/"], timeout=120)
check("3000 succeeded, 0 failed" in r.out, "30 connections x 10 streams: all succeeded")

g.stop()
up.stop()
