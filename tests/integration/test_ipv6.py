"""IPv6 clients count per /64 (ban_prefix_v6 64, the default): a host picks
any address of its /64, so a ban of one of them bans them all, and the
per-client limits add up the connections of the whole /64.  Another /64 is
another client.  ban_prefix_v6 128 counts each address alone.  A network
banned /64 after /64 cannot flush a full ban table: past 16 /64s its /48 is
banned (ban_aggregate) and its later bans take no entry.

Runs in a network namespace of its own (the loopback interface there gets
2001:db8:1::1, 2001:db8:1::2, 2001:db8:2::1, 2001:db8:3::1 and 100 /64s
of 2001:db8:1::/48); exit 77 (skip) where the
kernel does not permit one."""

import os
import socket
import subprocess
import sys

if os.environ.get("H2GUARD_IN_NETNS") != "1":
    os.environ["H2GUARD_IN_NETNS"] = "1"
    try:
        rc = subprocess.call(["unshare", "--net", sys.executable] + sys.argv)
    except OSError as e:
        print("SKIP: unshare: %s" % e)
        sys.exit(77)
    sys.exit(rc)

for cmd in (["ip", "link", "set", "lo", "up"],
            ["ip", "-6", "addr", "add", "2001:db8:1::1/64", "dev", "lo", "nodad"],
            ["ip", "-6", "addr", "add", "2001:db8:1::2/64", "dev", "lo", "nodad"],
            ["ip", "-6", "addr", "add", "2001:db8:2::1/64", "dev", "lo", "nodad"],
            ["ip", "-6", "addr", "add", "2001:db8:3::1/64", "dev", "lo", "nodad"]):
    if subprocess.call(cmd) != 0:
        print("SKIP: %s failed: no network namespace here" % " ".join(cmd))
        sys.exit(77)

from harness import H2guard, Upstream, check, metrics, read_all  # noqa: E402

A1, A2, B, C = "2001:db8:1::1", "2001:db8:1::2", "2001:db8:2::1", "2001:db8:3::1"
up = Upstream()


def get(g, src, path="/x"):
    """(status line or "", "reset"/"eof"/"") of one HTTP/1.1 GET from src."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((src, 0))
    try:
        s.connect(("::1", g.port6))
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        d = read_all(s)
    except ConnectionResetError:
        return "", "reset"
    finally:
        s.close()
    return d.split(b"\r\n", 1)[0].decode(), "eof"


for prefix in (None, 128):
    extra = "kernel_drop off\nrule trap path prefix /trap ban ttl 1m\n"
    if prefix:
        extra += "ban_prefix_v6 %d\n" % prefix
    g = H2guard([up.addr], tls=False, ipv6=True, extra=extra)
    unit = "/%d" % (prefix or 64)
    check(get(g, A1)[0] == "HTTP/1.1 200 OK", "%s: %s is served" % (unit, A1))
    check(get(g, A1, "/trap") == ("", "reset"), "%s: its banned request: reset, nothing written" % unit)
    if prefix is None:
        check(get(g, A2) == ("", "reset"), "/64: %s, in the same /64, is refused at accept" % A2)
    else:
        check(get(g, A2)[0] == "HTTP/1.1 200 OK", "/128: %s, another address, is served" % A2)
    check(get(g, B)[0] == "HTTP/1.1 200 OK", "%s: %s, in another /64, is served" % (unit, B))
    g.stop()

# A network that gets its addresses banned one /64 after another cannot
# flush the ban table (40 entries here): past 16 /64s of one /48 the /48 is
# banned, and its later bans take no entry.  An earlier ban of another
# network stays.
ATK = ["2001:db8:1:%x::1" % i for i in range(100)]
for a in ATK:
    subprocess.call(["ip", "-6", "addr", "add", a + "/64", "dev", "lo", "nodad"])
g = H2guard([up.addr], tls=False, ipv6=True, admin=True,
            extra="kernel_drop off\nban_table_size 40\nrule trap path prefix /trap ban ttl 1m\n")
check(get(g, B, "/trap") == ("", "reset"), "table: %s banned first" % B)
for a in ATK:
    get(g, a, "/trap")
check(get(g, B) == ("", "reset"), "table: %s is still banned after 100 /64s of one /48 were" % B)
check(get(g, ATK[0]) == ("", "reset"), "table: the attacker's first /64 is still banned")
check(get(g, "2001:db8:1::1") == ("", "reset"), "table: a /64 of that /48 never seen is banned too")
check(get(g, C)[0] == "HTTP/1.1 200 OK", "table: another network is served")
n = metrics(g).get("h2guard_ban_table_entries")
check(n is not None and n <= 1 + 16 + 1, "table: %s entries (B, 16 /64s and their /48)" % n)
check("addresses of 2001:db8:1:f::1's /48 banned: the whole /48 is" in g.log(), "table: the aggregation is logged")
g.stop()

# The per-client count adds up the addresses of one /64.
g = H2guard([up.addr], tls=False, ipv6=True, extra="kernel_drop off\nlimit client_conn_rate 3/10s\n")
got = [get(g, src)[0] for src in (A1, A2, A1, A2)]
check(got[:3] == ["HTTP/1.1 200 OK"] * 3 and got[3] == "",
      "/64: client_conn_rate 3/10s counts %s and %s as one client: %s" % (A1, A2, got))
check(get(g, B)[0] == "HTTP/1.1 200 OK", "/64: another /64 has its own count")
g.stop()
up.stop()
