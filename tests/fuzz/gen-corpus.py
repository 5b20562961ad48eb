#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora into tests/fuzz/corpus/TARGET/.

Each seed is a small valid (or nearly valid) input that takes a target down
one of its main paths, for the fuzzer to mutate from.  Run it again after
changing it; the files are committed.  Needs python3-hyperframe and
python3-hpack.
"""

import os
import shutil
import struct

from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, GoAwayFrame, HeadersFrame, PingFrame,
                              PriorityFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame)

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(TOP, "tests", "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- conf ----------------------------------------------------------------------
def conf():
    with open(os.path.join(TOP, "conf", "h2guard.conf")) as f:
        write("conf", "example", f.read())
    write("conf", "full", """listen 127.0.0.1:8443 tls proxy_protocol
listen [::1]:8080
listen *:80
tls_certificate "a cert.pem"
tls_certificate_key key.pem
upstream 127.0.0.1:8000
upstream unix:/run/app.sock
upstream_connect_timeout 500ms
upstream_idle_timeout 1m
upstream_keepalive 16
upstream_max_connections 64
upstream_response_timeout 1h
workers 2
shutdown_timeout 30s
max_concurrent_streams 128
max_header_list_size 64k
h2_stream_window 256k
h2_connection_window 1m
handshake_timeout 10s
first_request_timeout 10s
forwarded_headers trust
access_log stderr
admin_listen 127.0.0.1:9000
ban_state_file /var/lib/h2guard/bans
ban_state_interval 10s
ban_close fin
dry_run off
ban_table_size 1000
ban_prefix_v4 24
ban_prefix_v6 64
ban_log off
flood_ban_ttl 10m
client_table_size 5000
log_level debug
rule office   client 10.0.0.0/8                   allow
rule wp       path prefix /wp-login.php           ban
rule sqlmap   header user-agent regex "(?i)sqlmap|nikto"   ban ttl 10m
rule admin    method DELETE path prefix /admin    ban ttl 1h
rule env      path regex "\\.env$"                 log
rule q        query regex "x=1"  authority exact a.example  protocol h2  sni regex "^b" ban
rule hp       header x-a present header x-b exact "v w" ban ttl 1s
limit stream_rate 100/1s
limit streams off
limit rst_rate 10/10s
limit continuations 3
limit header_bytes 16k
memory_limit 512m
ban_share redis://:secret@127.0.0.1:6379/2
ban_share_prefix site:
""")
    write("conf", "errors", "listen nowhere\nupstream\nworkers -1\nlimit nope 1\nrule a ban\nrule a path exact / ban\n"
          "\"unterminated\nmax_header_list_size 1q\n")


# ---- proxyproto ----------------------------------------------------------------
def v2(cmd, fam, addrs, tlv=b""):
    body = addrs + tlv
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20 | cmd, fam]) + struct.pack(">H", len(body)) + body


def proxyproto():
    write("proxyproto", "v1-tcp4", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /")
    write("proxyproto", "v1-tcp6", "PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n")
    write("proxyproto", "v1-unknown", "PROXY UNKNOWN\r\n")
    write("proxyproto", "v1-bad", "PROXY TCP4 192.0.2.01 198.51.100.2 56324 443\r\n")
    write("proxyproto", "v2-tcp4", v2(1, 0x11, bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack(">HH", 56324, 443)))
    write("proxyproto", "v2-tcp6", v2(1, 0x21, bytes(15) + b"\x01" + bytes(15) + b"\x02" + struct.pack(">HH", 1, 2)))
    write("proxyproto", "v2-local", v2(0, 0x00, b""))
    write("proxyproto", "v2-tlv", v2(1, 0x11, bytes([10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack(">HH", 1, 2),
                                     b"\x02\x00\x05hello\x04\x00\x00"))
    write("proxyproto", "v2-unix", v2(1, 0x31, bytes(216)))


# ---- h1 --------------------------------------------------------------------------
def h1():
    write("h1", "get", "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: curl\r\n\r\n")
    write("h1", "post-length", "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
    write("h1", "post-chunked", "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
          "5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n")
    write("h1", "pipelined", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n"
          "GET /3?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    write("h1", "banned", "GET /wp-login.php HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
    write("h1", "banned-ttl", "DELETE /admin/x HTTP/1.1\r\nHost: a\r\n\r\n")
    write("h1", "expect", "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc")
    write("h1", "http10", "GET http://a/abs HTTP/1.0\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n")
    write("h1", "connect", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n")
    write("h1", "upgrade", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
          "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
    write("h1", "bad", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")


# ---- h2 (after the preface, which the target adds) -----------------------------
def frames(*fs):
    return b"".join(f.serialize() for f in fs)


def headers(enc, sid, path="/", method="GET", extra=(), end=True):
    h = [(":method", method), (":scheme", "http"), (":authority", "a"), (":path", path)] + list(extra)
    f = HeadersFrame(sid, enc.encode(h))
    f.flags.add("END_HEADERS")
    if end:
        f.flags.add("END_STREAM")
    return f


def settings_ack():
    f = SettingsFrame(0)
    f.flags.add("ACK")
    return f


def h2():
    e = Encoder()
    write("h2", "get", frames(SettingsFrame(0), settings_ack(), headers(e, 1)))
    e = Encoder()
    post = headers(e, 1, "/up", "POST", [("content-length", "5")], end=False)
    d = DataFrame(1, b"hello")
    d.flags.add("END_STREAM")
    write("h2", "post", frames(SettingsFrame(0, settings={4: 65535}), post, d, WindowUpdateFrame(0, 1000)))
    e = Encoder()
    write("h2", "streams", frames(SettingsFrame(0), *[headers(e, i, "/s%d" % i) for i in (1, 3, 5, 7)],
                                  RstStreamFrame(5, error_code=8), PingFrame(0, b"12345678"),
                                  PriorityFrame(3, depends_on=1, stream_weight=200)))
    e = Encoder()
    write("h2", "banned", frames(SettingsFrame(0), headers(e, 1, "/ok"), headers(e, 3, "/wp-login.php"),
                                 headers(e, 5, "/after")))
    e = Encoder()
    write("h2", "banned-ttl", frames(SettingsFrame(0), headers(e, 1, "/x", extra=[("user-agent", "sqlmap/1")])))
    e = Encoder()
    block = e.encode([(":method", "GET"), (":scheme", "http"), (":authority", "a"), (":path", "/cont"),
                      ("x-long", "v" * 100)])
    h = HeadersFrame(1, block[:10])
    h.flags.add("END_STREAM")
    c = ContinuationFrame(1, block[10:])
    c.flags.add("END_HEADERS")
    write("h2", "continuation", frames(SettingsFrame(0), h, c))
    e = Encoder()
    t = headers(e, 1, "/t", "POST", end=False)
    d = DataFrame(1, b"body")
    tr = HeadersFrame(1, e.encode([("x-trailer", "1")]))
    tr.flags.add("END_HEADERS")
    tr.flags.add("END_STREAM")
    write("h2", "trailers", frames(SettingsFrame(0), t, d, tr))
    e = Encoder()
    write("h2", "goaway", frames(SettingsFrame(0), headers(e, 1), GoAwayFrame(0, last_stream_id=1)))
    e = Encoder()
    p = headers(e, 1, "/pad")
    p.flags.add("PADDED")
    p.pad_length = 8
    write("h2", "padded", frames(SettingsFrame(0), p) + b"\x00\x00\x03\xfa\x00\x00\x00\x00\x00abc")
    write("h2", "ping-flood", frames(SettingsFrame(0), *[PingFrame(0, b"%08d" % i) for i in range(30)]))
    e = Encoder()
    write("h2", "rapid-reset", frames(SettingsFrame(0), *[x for i in range(1, 121, 2)
                                                          for x in (headers(e, i), RstStreamFrame(i, error_code=8))]))


# ---- canon (first byte: bits 0-1 path_escaped_slashes, 2 HTTP/2, 3 https; then a target)
def canon():
    targets = {
        "plain": "/a/b.html?q=1",
        "dots": "/x/./y/../../wp-login.php",
        "escapes": "/%77p-login%2ephp?%64ebug=1+2",
        "slash": "/static%2F..%2Fwp-login.php",
        "reserved": "/files/a%2Bb/caf%C3%A9/100%25",
        "bad": "/%zz/%4",
        "nul": "/a%00b",
        "absolute": "http://Admin.Example.Com.:80//wp-login.php#frag",
        "absolute-https": "HTTPS://[::1]:443/x?y",
        "port": "http://a:99999/x",
        "star": "*",
        "authority": "Admin.Example.COM.:8080",
        "trailing": "/a/b/..",
    }
    for name, t in targets.items():
        for sel in (0, 1, 2, 4, 8):
            write("canon", "%s-%d" % (name, sel), bytes([sel]) + t.encode())


# ---- upstream (first byte: bit 0 h2, bit 1 HEAD; then the upstream's bytes) -----
def upstream():
    resps = {
        "length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello",
        "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
        "close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
        "204": b"HTTP/1.1 204 No Content\r\n\r\n",
        "304": b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
        "100": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "short": b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nonly this",
        "long": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nmore than two",
        "bad-status": b"HTTP/1.1 2x0 OK\r\n\r\n",
        "hop": b"HTTP/1.1 200 OK\r\nConnection: keep-alive, x-h\r\nKeep-Alive: 5\r\nX-H: 1\r\nUpgrade: y\r\n"
               b"Content-Length: 0\r\n\r\n",
        "http10": b"HTTP/1.0 200 OK\r\n\r\nbody",
    }
    for name, r in resps.items():
        for sel in range(4):
            write("upstream", "%s-%d" % (name, sel), bytes([sel]) + r)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    conf()
    proxyproto()
    canon()
    h1()
    h2()
    upstream()
    for t in sorted(os.listdir(OUT)):
        print("%-10s %d seeds" % (t, len(os.listdir(os.path.join(OUT, t)))))


if __name__ == "__main__":
    main()
