"""Command line: --help, --version, -t on good and broken configurations."""

import os

from harness import BIN, check, has_ban_share, make_cert, run, tmpdir

r = run([BIN, "--help"])
check("-t, --test" in r.out and "-c, --config FILE" in r.out, "--help lists -c and -t")

r = run([BIN, "--version"])
check(r.out.startswith("h2guard ") and "nghttp2 1." in r.out and "libevent 2.1" in r.out
      and "OpenSSL 3" in r.out, "--version names h2guard, nghttp2, libevent, OpenSSL")

r = run([BIN, "--bogus"], check_rc=False)
check(r.returncode == 2 and "usage:" in r.err, "an unknown option prints usage and exits 2")

cert, key = make_cert()
good = os.path.join(tmpdir(), "good.conf")
with open(good, "w") as f:
    f.write("""listen 127.0.0.1:8443 tls          # TLS, ALPN h2 and http/1.1
listen [::1]:8443 tls
listen 127.0.0.1:8080              # clear text: h2c and HTTP/1.1
tls_certificate %s
tls_certificate_key %s
upstream 127.0.0.1:8000            # repeatable; also unix:/run/app.sock
upstream unix:/run/app.sock
""" % (cert, key))
r = run([BIN, "-t", "-c", good], check_rc=False)
check(r.returncode == 0, "-t accepts the issue's example configuration: " + r.err.strip())

bad = os.path.join(tmpdir(), "bad.conf")
with open(bad, "w") as f:
    f.write("""listen 127.0.0.1:8080
frobnicate yes
max_concurrent_streams lots
keepalive_timeout 10x
upstream 127.0.0.1:8000
""")
r = run([BIN, "-t", "-c", bad], check_rc=False)
lines = r.err.strip().splitlines()
check(r.returncode == 1, "-t exits 1 on a broken configuration")
check(len(lines) == 3 and lines[0].startswith(bad + ":2: ") and lines[1].startswith(bad + ":3: ")
      and lines[2].startswith(bad + ":4: "), "every error is reported as FILE:LINE: %r" % lines)

missing = os.path.join(tmpdir(), "nocert.conf")
with open(missing, "w") as f:
    f.write("listen 127.0.0.1:8443 tls\ntls_certificate /nonexistent/cert.pem\n"
            "tls_certificate_key %s\nupstream 127.0.0.1:8000\n" % key)
r = run([BIN, "-t", "-c", missing], check_rc=False)
check(r.returncode == 1 and r.err.startswith(missing + ':2: tls_certificate: cannot read "/nonexistent/cert.pem": No such file'),
      "an unreadable certificate is reported at its line: " + r.err.strip())

r = run([BIN, "-t", "-c", "/nonexistent.conf"], check_rc=False)
check(r.returncode == 1 and "/nonexistent.conf" in r.err, "a missing file is an error")

# The annotated example: every key it shows commented out, with its default,
# must be accepted as written (with a certificate that exists).
example = os.path.join(os.environ.get("H2GUARD_SRCDIR", "."), "conf", "h2guard.conf")
lines = []
with open(example) as f:
    for line in f:
        if line.startswith("#") and line[1:2].isalpha():
            line = line[1:]
        if line.startswith("tls_certificate_key "):
            line = "tls_certificate_key %s\n" % key
        elif line.startswith("tls_certificate "):
            line = "tls_certificate %s\n" % cert
        elif line.startswith("ban_share ") and not has_ban_share():
            line = "ban_share off\n"    # built without hiredis: refused
        elif line.startswith("admin_token "):
            token = os.path.join(tmpdir(), "admin.token")
            with open(token, "w") as f:
                f.write("0123456789abcdef0123456789abcdef\n")
            line = "admin_token %s\n" % token
        lines.append(line)
uncommented = os.path.join(tmpdir(), "example.conf")
with open(uncommented, "w") as f:
    f.writelines(lines)
r = run([BIN, "-t", "-c", uncommented], check_rc=False)
check(r.returncode == 0 and sum(1 for line in lines if line.startswith("limit ")) == 17,
      "conf/h2guard.conf with every commented-out key enabled (17 limits) is accepted: " + r.err.strip())
