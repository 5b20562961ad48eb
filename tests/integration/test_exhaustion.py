"""Exhaustion, with the real binary: out of file descriptors, h2guard stops
accepting instead of spinning on accept() (one log line, next to no CPU),
and serves again once descriptors are given back; memory_limit: clients
that do not read hold no more than the budget in h2guard's buffers (and
far more without it), and every response completes, intact, once they
read; 10,000 concurrent client connections, each served, all held open at
once, each served again."""

import asyncio
import os
import resource
import socket
import time


import h2.events
import h2.settings

from harness import (H2guard, RawClient, Upstream, check, cpu_s, curl, fail, log, metrics, need, pattern,
                     wait_for)

need("curl")
up = Upstream()


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# ---- out of file descriptors -------------------------------------------------------
# valgrind keeps descriptors of its own and lowers the limit h2guard sees.
VALGRIND = bool(os.environ.get("H2GUARD_VALGRIND"))


def out_of_descriptors():
    g = H2guard([up.addr], tls=False, extra="first_request_timeout 60s\nlog_level info")
    check(curl([g.url + "/before"]).out == "ok GET /before\n", "served before the limit")
    pid = g.proc.pid
    base = nfds(pid)
    # Room for 8 more descriptors: a few client connections, then accept() fails.
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (base + 8, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    clients = []
    for i in range(40):
        s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        clients.append(s)
    time.sleep(0.5)
    c0 = cpu_s(pid)
    time.sleep(2.0)
    spent = cpu_s(pid) - c0
    held = nfds(pid)
    text = g.log()
    pauses = text.count("not accepting for now")
    log("out of descriptors: %d held (limit %d), %.2f s CPU in 2 s, %d pause line(s)" % (held, base + 8, spent, pauses))
    check(held <= base + 8, "h2guard holds no more descriptors than its limit (%d)" % held)
    for line in text.splitlines():
        if "accept" in line:
            log("  log: " + line)
    # One, or a few when a descriptor came free for a moment (one of
    # AddressSanitizer's own, say): accepted, then out again.
    check(1 <= pauses <= 3, "a line says accepting stopped (%d)" % pauses)
    check("Too many open files" in text, "the line says why")
    check(text.count("accept:") <= 3, "accept() failures are not logged one by one")
    check(spent < 0.5, "no busy loop while out of descriptors: %.2f s of CPU in 2 s" % spent)

    # Descriptors come back: the queued connections are accepted, new ones served.
    for s in clients:
        s.close()
    check(wait_for(lambda: curl([g.url + "/after"], timeout=5, check_rc=False).out == "ok GET /after\n", 10),
          "served again once descriptors are free")
    check("accepting again after" in g.log(), "a line says accepting works again")
    resource.prlimit(pid, resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
    g.stop()


if VALGRIND:
    log("SKIP out of descriptors: under valgrind")
else:
    out_of_descriptors()

# ---- memory_limit ---------------------------------------------------------------------
BODY = 3000000
CONNS, STREAMS = 6, 4


def metric(g, name):
    m = metrics(g)
    check("h2guard_" + name in m, "metric h2guard_%s" % name)
    return int(m["h2guard_" + name])


def stalled(limit):
    """CONNS h2c connections, STREAMS big downloads each, none read: returns
    (h2guard, clients, buffer_bytes held after 1.5 s)."""
    # All 24 downloads are 127.0.0.1's: its share of the upstream pool is
    # the whole pool here.
    g = H2guard([up.addr], tls=False, admin=True,
                extra="memory_limit %s\nupstream_max_connections_per_client 64" % limit)
    cs = []
    for _ in range(CONNS):
        c = RawClient(g.port, timeout=30)
        # Windows wide open: only h2guard's buffers hold the bytes back.
        c.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2 ** 31 - 1})
        c.h2.increment_flow_control_window(2 ** 31 - 1 - 65535)
        c.send(c.h2.data_to_send())
        c.send(c.requests(["/bytes/%d" % BODY] * STREAMS))
        cs.append(c)
    time.sleep(1.5)
    return g, cs, metric(g, "buffer_bytes")


g, cs, unbounded = stalled("off")
for c in cs:
    c.close()
g.stop()
g, cs, held = stalled("2m")
waits = metric(g, "memory_waits_total")
log("clients not reading: %d bytes in h2guard's buffers without memory_limit, %d with 2m (%d waits)"
    % (unbounded, held, waits))
check(unbounded > 5 << 20, "without a limit the buffers hold more than 5 MiB (%d)" % unbounded)
# Over the budget a response is still read, 4 KiB at a time, while its
# client holds less than 16 KiB of it (so that clients that read are never
# stuck behind those that do not): 20 KiB a stream beyond the budget, and
# each connection's frames already made (64 KiB at most: H2S_OUT_HIGH),
# which its client does not take either.
bound = (2 << 20) + CONNS * STREAMS * (20 << 10) + CONNS * (64 << 10) + (64 << 10)
check(held <= bound, "with memory_limit 2m they hold at most %d (%d)" % (bound, held))
check(waits > 0, "upstream reads were put off (h2guard_memory_waits_total %d)" % waits)
# The clients read now: every response completes, intact.
want = pattern(BODY)
complete = 0
for c in cs:
    bodies = {}
    done = set()
    while len(done) < STREAMS:
        for ev in c.h2.receive_data(c.recv()):
            if isinstance(ev, h2.events.DataReceived):
                bodies.setdefault(ev.stream_id, []).append(ev.data)
                c.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                done.add(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                fail("stream %d reset" % ev.stream_id)
        c.send(c.h2.data_to_send())
    complete += sum(1 for b in bodies.values() if b"".join(b) == want)
    c.close()
check(complete == CONNS * STREAMS, "all %d responses complete and intact once read (%d)" %
      (CONNS * STREAMS, complete))
g.stop()

# ---- 10,000 concurrent connections ----------------------------------------------------
N = 10000
want = N + 500      # per process: this client, and h2guard (which inherits it)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < want:
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))     # root may raise it
    except (ValueError, OSError):
        pass
else:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < want:
    log("SKIP 10,000 connections: RLIMIT_NOFILE %d < %d and cannot be raised" %
        (resource.getrlimit(resource.RLIMIT_NOFILE)[0], want))
    up.stop()
    log("ok")
    raise SystemExit(0)

# All from 127.0.0.1: the per-client limits would take it for a flood.  Idle
# connections take one descriptor each: max_connections above the default
# (half of RLIMIT_NOFILE, for connections with requests at the upstream).
g = H2guard([up.addr], tls=False, extra="first_request_timeout 120s\nkeepalive_timeout 120s\n"
            "limit client_conn_rate off\nlimit client_stream_rate off\nlimit client_max_connections off\n"
            "max_connections %d" % (N + 100))


async def one(sem, path, keep):
    async with sem:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", g.port), 30)
        req = ("GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path).encode()
        w.write(req)
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 60)
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        body = await asyncio.wait_for(r.readexactly(length), 60)
        keep.append((r, w))
        return head.startswith(b"HTTP/1.1 200") and body == ("ok GET %s\n" % path).encode()


async def again(r, w, path):
    w.write(("GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path).encode())
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 60)
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    body = await asyncio.wait_for(r.readexactly(length), 60)
    return head.startswith(b"HTTP/1.1 200") and body == ("ok GET %s\n" % path).encode()


async def ten_thousand():
    sem = asyncio.Semaphore(256)
    keep = []
    t0 = time.monotonic()
    first = await asyncio.gather(*(one(sem, "/c%d" % i, keep) for i in range(N)), return_exceptions=True)
    t1 = time.monotonic()
    held = nfds(g.proc.pid)
    second = await asyncio.gather(*(again(r, w, "/again%d" % i) for i, (r, w) in enumerate(keep)),
                                  return_exceptions=True)
    t2 = time.monotonic()
    for _, w in keep:
        w.close()
    return first, second, held, t1 - t0, t2 - t1


first, second, held, d1, d2 = asyncio.run(ten_thousand())
ok1 = sum(1 for x in first if x is True)
ok2 = sum(1 for x in second if x is True)
errs = [repr(x) for x in first + second if x is not True][:3]
log("10,000 connections: %d served in %.1f s, %d descriptors held by h2guard with all open, "
    "%d served again on the same connections in %.1f s; RSS %d KiB %s" %
    (ok1, d1, held, ok2, d2, g.rss_kib(), errs))
check(ok1 == N, "each of %d connections served (%d)" % (N, ok1))
check(held >= N, "all of them open at once in h2guard (%d descriptors)" % held)
check(ok2 == N, "each served again, on the same connection, with all open (%d)" % ok2)
check(curl([g.url + "/after"]).out == "ok GET /after\n", "served after they close")
g.stop()
up.stop()
log("ok")
