"""Floods that nghttp2 detects by itself end in the silent teardown, not in
nghttp2's GOAWAY: here its RST_STREAM rate limit (Rapid Reset,
CVE-2023-44487, burst 1000), with h2guard's own limits that would catch it
first turned off, as a backstop.  The attacker reads every byte h2guard
sends and must find no GOAWAY among the frames, then a reset."""

import json
import os

from hyperframe.frame import Frame

from harness import H2guard, RawClient, Upstream, check, curl, tmpdir

banlog = os.path.join(tmpdir(), "ban.log")
up = Upstream()
g = H2guard([up.addr], extra="\n".join([
    "ban_log %s" % banlog,
    "limit cancel_rate off", "limit rst_rate off", "limit stream_rate off",
    "limit client_stream_rate off"]))

for tls in (False, True):
    c = RawClient(g.tls_port if tls else g.port, tls=tls, source="127.0.0.3", drain=True)
    for _ in range(1500):
        sid = c.h2.get_next_available_stream_id()
        c.h2.send_headers(sid, [(":method", "GET"), (":path", "/rr"), (":scheme", "http"),
                                (":authority", "a")], end_stream=True)
        c.h2.reset_stream(sid)
    data = c.h2.data_to_send()
    received = b""
    how = None
    try:
        c.send(data)
        while True:
            received += c.recv()
    except ConnectionResetError:
        how = "reset"
    except ConnectionError:
        how = "eof"
    c.close()
    types = []
    pos = 0
    while pos + 9 <= len(received):
        frame, length = Frame.parse_frame_header(memoryview(received[pos:pos + 9]))
        types.append(frame.type)
        pos += 9 + length
    check(0x07 not in types, "%s Rapid Reset: no GOAWAY among the %d frames h2guard sent"
          % ("TLS" if tls else "h2c", len(types)))
    check(how == "reset", "%s Rapid Reset: the connection was reset (%s)" % ("TLS" if tls else "h2c", how))

with open(banlog) as f:
    entries = [json.loads(line) for line in f]
check(len(entries) == 2 and all(e["limit"] == "nghttp2_rapid_reset" and e["client"] == "127.0.0.3"
                                for e in entries), "each flood is one ban log line naming the limit")
r = curl(["--http2", g.tls_url + "/still"])
check(r.out == "ok GET /still\n", "h2guard serves other clients afterwards")
g.stop()
up.stop()
