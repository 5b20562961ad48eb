"""HTTP/2 conformance with h2spec (../shared/bin/h2spec or $H2SPEC), over
h2c and TLS.  Skips when h2spec is absent.  Prints the pass count; fails on
any failed test case that is not in KNOWN_FAILURES (each listed with why)."""

import os
import re

from harness import H2guard, Upstream, check, log, run, skip, SRCDIR

H2SPEC = os.environ.get("H2SPEC") or os.path.join(SRCDIR, "..", "shared", "bin", "h2spec")
if not os.access(H2SPEC, os.X_OK):
    skip("h2spec not found at %s" % H2SPEC)

# Test case ids ("section/number") that fail today, with the reason.
KNOWN_FAILURES = {
}

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
    failed = re.findall(r"^\s+\d+\.\s.*$", r.out, re.M)
    # The summary lists failures as "  <section>" headings then "    x. title".
    summary = r.out.split("Failures:")[-1] if "Failures:" in r.out else ""
    ids = set()
    section = None
    for line in summary.splitlines():
        s = line.strip()
        ms = re.match(r"^(\d+(\.\d+)*)\.?\s", s)
        mt = re.match(r"^(\d+)\.\s", s) if line.startswith("      ") else None
        if mt and section:
            ids.add("%s/%s" % (section, mt.group(1)))
        elif ms:
            section = ms.group(1)
    unexpected = sorted(i for i in ids if i not in KNOWN_FAILURES)
    if unexpected:
        log(summary[-4000:])
    check(int(m.group(4)) == len(ids) or not ids, "parsed the list of failures (%s)" % sorted(ids))
    check(not unexpected, "h2spec %s: no failure outside the known list: %s" % (label, unexpected))
g.stop()
up.stop()
