"""50 MB upload and download over HTTP/2 with checksums compared, while
h2guard's memory stays bounded (flow control both ways)."""

import hashlib
import os
import threading
import time

from harness import H2guard, Upstream, check, curl, pattern, sanitized, tmpdir

N = 50 * 1024 * 1024
up = Upstream()
g = H2guard([up.addr])
base_rss = g.rss_kib()
peak = [base_rss]
stop = threading.Event()


def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], g.rss_kib())
        time.sleep(0.02)


t = threading.Thread(target=sample)
t.start()
want = hashlib.sha256(pattern(N)).hexdigest()

# Download: h2 over TLS, chunked and Content-Length upstream responses.
for q in ("", "?cl=1"):
    out = os.path.join(tmpdir(), "down")
    curl(["--http2", "-o", out, g.tls_url + "/bytes/%d%s" % (N, q)], timeout=120)
    with open(out, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    check(got == want, "50 MB download over h2 (%s) has the right checksum" % (q or "chunked"))

# A slow reader: the client reads at 5 MB/s, h2guard must not buffer the rest.
out = os.path.join(tmpdir(), "slow")
curl(["--http2", "--limit-rate", "5M", "-o", out, g.tls_url + "/bytes/%d" % (N // 2)], timeout=120)
check(os.path.getsize(out) == N // 2, "slow h2 reader got all 25 MB")

# Upload: h2 over TLS and h2c, echoed back.
src = os.path.join(tmpdir(), "up")
with open(src, "wb") as f:
    f.write(os.urandom(N))
with open(src, "rb") as f:
    want_up = hashlib.sha256(f.read()).hexdigest()
for url, proto in ((g.tls_url, "--http2"), (g.url, "--http2-prior-knowledge"), (g.url, "--http1.1")):
    out = os.path.join(tmpdir(), "echo")
    curl([proto, "--data-binary", "@" + src, "-o", out, url + "/echo"], timeout=120)
    with open(out, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    check(got == want_up, "50 MB upload %s echoed back intact" % proto)

stop.set()
t.join()
growth_mib = (peak[0] - base_rss) / 1024
print("h2guard RSS: start %d KiB, peak %d KiB (+%.1f MiB)" % (base_rss, peak[0], growth_mib))
if sanitized():
    # ASan's quarantine keeps freed memory resident: the figure means nothing.
    print("AddressSanitizer build: RSS bound not checked")
else:
    check(growth_mib < 24, "h2guard's RSS grew by %.1f MiB (< 24) while moving 250 MB" % growth_mib)

g.stop()
up.stop()
