"""HTTP/2 conformance with h2spec (../shared/bin/h2spec or $H2SPEC), over
h2c and TLS.  Skips when h2spec is absent.  Prints the pass count; fails on
any failed test case that is not in KNOWN_FAILURES (each listed with why)."""

import os
import re

from harness import H2guard, Upstream, check, log, run, skip, SRCDIR

H2SPEC = os.environ.get("H2SPEC") or os.path.join(SRCDIR, "..", "shared", "bin", "h2spec")
if not os.access(H2SPEC, os.X_OK):
    skip("h2spec not found at %s" % H2SPEC)

# Test case ids (as h2spec names them, "http2/5.1.1/2") that fail today,
# each with the reason.  None does.
KNOWN_FAILURES = {
}

GROUPS = {"Generic tests for HTTP/2 server": "generic",
          "Hypertext Transfer Protocol Version 2 (HTTP/2)": "http2",
          "HPACK: Header Compression for HTTP/2": "hpack"}


def failure_ids(out):
    """The ids of the failed cases listed after "Failures:" in h2spec's output."""
    ids = []
    if "Failures:" not in out:
        return ids
    group = section = None
    for line in out.split("Failures:", 1)[1].splitlines():
        s = line.strip()
        if line in GROUPS:
            group = GROUPS[line]
        elif re.match(r"^\d+(\.\d+)*\.\s", s):
            section = s.split(". ", 1)[0].rstrip(".")
        elif s.startswith("\u00d7"):
            n = re.match(r"^\u00d7\s*(\d+):", s)
            ids.append("%s/%s/%s" % (group, section, n.group(1) if n else "?"))
    return ids

up = Upstream()
g = H2guard([up.addr])
for label, args in (("h2c", ["-p", str(g.port)]), ("tls", ["-p", str(g.tls_port), "-t", "-k"])):
    junit = os.path.join(os.path.dirname(g.conf), "h2spec-%s.xml" % label)
    r = run([H2SPEC, "-h", "127.0.0.1", "-o", "5", "-j", junit] + args, timeout=600, check_rc=False)
    m = re.search(r"(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed", r.out)
    if not m:
        log(r.out[-3000:])
    check(m is not None, "h2spec %s ran" % label)
    log("h2spec %s: %s" % (label, m.group(0)))
    ids = failure_ids(r.out)
    check(len(ids) == int(m.group(4)), "parsed the list of failures: %s" % ids)
    unexpected = [i for i in ids if i not in KNOWN_FAILURES]
    if unexpected:
        log(r.out.split("Failures:")[-1][-4000:])
    check(not unexpected, "h2spec %s: no failure outside the known list: %s" % (label, unexpected))
g.stop()
up.stop()
