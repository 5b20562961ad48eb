"""One client cannot pin the upstream pool, default settings.

1. The attack: one HTTP/2 connection from 127.0.0.70 with
   SETTINGS_INITIAL_WINDOW_SIZE 1 opens 64 streams on a 1 MiB response and
   sends a 1-byte WINDOW_UPDATE for each every few seconds, so that every
   response it holds is paused at the upstream, never done.  Before, it held
   all 64 connections of upstream_max_connections and every other client
   waited for one (504).  Now its requests hold its share (16 of 64), the
   rest wait their turn, and a legitimate client on another connection and
   address is answered within a second, every time, for a minute; the
   attacker's dribble is no progress for send_timeout (60 s), so it is cut
   off as a flood by then.
2. With send_timeout 3s, the same dribble is cut off within about 3 s
   (before, each byte restarted the count and it never was).
3. A second attacking address gets its own share, no more.

Clients: 127.0.0.70 and 127.0.0.71 attack, 127.0.0.1 is legitimate."""

import json
import os
import socket
import threading
import time

import h2.settings

from harness import H2guard, RawClient, Upstream, check, log, metrics, read_all, tmpdir, wait_for

up = Upstream()
STREAMS = 64
BIG = "/bytes/1048576"


class Dribbler(threading.Thread):
    """An HTTP/2 client that asks for STREAMS big responses and takes them a
    byte a stream every `every` seconds, for `last` seconds at most."""

    def __init__(self, port, src, every=3.0, last=70.0):
        super().__init__(daemon=True)
        self.c = RawClient(port, source=src, timeout=5)
        self.c.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1})
        self.c.send(self.c.h2.data_to_send())
        self.c.send(self.c.requests([BIG] * STREAMS))
        self.every, self.last = every, last
        self.ended = None       # seconds after start when h2guard cut it off
        self.t0 = time.monotonic()
        self.stop = threading.Event()

    def run(self):
        c = self.c
        c.sock.settimeout(0.2)
        next_wu = time.monotonic() + self.every
        while not self.stop.is_set() and time.monotonic() - self.t0 < self.last:
            try:
                d = c.sock.recv(65536)
                if not d:
                    break
                c.h2.receive_data(d)
            except socket.timeout:
                pass
            except OSError:
                break
            if time.monotonic() >= next_wu:
                next_wu += self.every
                try:
                    for sid in range(1, 2 * STREAMS, 2):
                        if sid in c.h2.streams and not c.h2.streams[sid].closed:
                            c.h2.increment_flow_control_window(1, stream_id=sid)
                    c.h2.increment_flow_control_window(STREAMS)
                    c.send(c.h2.data_to_send())
                except Exception:
                    break
        self.ended = time.monotonic() - self.t0
        c.close()


def legit_get(g):
    """GET / over a new HTTP/1.1 connection from 127.0.0.1: (status, seconds)."""
    t = time.monotonic()
    s = socket.create_connection(("127.0.0.1", g.port), timeout=10)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        d = read_all(s)
    except OSError:
        d = b""
    s.close()
    return d[:12].decode(errors="replace"), time.monotonic() - t


# ---- 1. a minute of the attack, default settings ----------------------------------
banlog = os.path.join(tmpdir(), "ban.log")
g = H2guard([up.addr], tls=False, admin=True, extra="ban_log %s\n" % banlog)
a = Dribbler(g.port, "127.0.0.70")
a.start()
check(wait_for(lambda: metrics(g).get("h2guard_buffer_bytes", 0) > 0, 5), "the attacker's responses are buffered")
_, open_ = up.conns()
log("upstream connections open with the attack on: %d" % open_)
check(open_ <= 16 + 2, "the attacker's 64 streams hold its share of the pool, 16 connections (%d open)" % open_)
lat = []
t_end = time.monotonic() + 60
while time.monotonic() < t_end:
    st, sec = legit_get(g)
    lat.append((st, sec))
    time.sleep(0.5)
bad = [x for x in lat if x[0] != "HTTP/1.1 200" or x[1] >= 1.0]
log("legitimate requests during the attack: %d, slowest %.3f s, median %.3f s"
    % (len(lat), max(x[1] for x in lat), sorted(x[1] for x in lat)[len(lat) // 2]))
check(len(lat) >= 60 and not bad, "every legitimate request answered 200 within a second for a minute "
      "(%d requests, %d late or failed: %s)" % (len(lat), len(bad), bad[:5]))
check(wait_for(lambda: a.ended is not None, 15), "the attacker is cut off (%s s)" % a.ended)
with open(banlog) as f:
    floods = [json.loads(l) for l in f if l.strip()]
check(any(e.get("limit") == "send_timeout" and e["client"] == "127.0.0.70" for e in floods),
      "as a send_timeout flood: its 1-byte window updates were no progress (%s)" % floods)
g.stop()

# ---- 2. the dribble and send_timeout -----------------------------------------------
g = H2guard([up.addr], tls=False, extra="send_timeout 3s\nban_log %s.2\n" % banlog)
a = Dribbler(g.port, "127.0.0.70", every=0.5, last=20)
a.start()
a.join(25)
check(a.ended is not None and a.ended < 6,
      "send_timeout 3s: a byte a stream every 0.5 s is cut off after %.1f s (at most 6)" % (a.ended or -1))
g.stop()

# ---- 3. two attacking addresses: a share each ----------------------------------------
g = H2guard([up.addr], tls=False)
atk = [Dribbler(g.port, "127.0.0.70", last=15), Dribbler(g.port, "127.0.0.71", last=15)]
for x in atk:
    x.start()
time.sleep(2)
_, open_ = up.conns()
check(open_ <= 2 * 16 + 2, "two attacking addresses hold a share each (%d upstream connections open)" % open_)
lat = [legit_get(g) for i in range(5)]
check(all(st == "HTTP/1.1 200" and sec < 1.0 for st, sec in lat),
      "a legitimate client is answered meanwhile: %s" % lat)
for x in atk:
    x.stop.set()
g.stop()
up.stop()
