#!/bin/sh
# The README demo: installs the Debian packages, builds h2guard, makes the
# demo certificate, starts the demo upstream on 127.0.0.1:8000 and h2guard
# with conf/h2guard.conf in the foreground (Ctrl-C stops both).
set -eu
cd "$(dirname "$0")/.."
tests/install-deps.sh
[ -x configure ] || autoreconf -fi
mkdir -p build
(cd build && ../configure >/dev/null && make -j"$(nproc)")
conf/gen-demo-cert.sh
build/tests/upstream/h2guard-upstream --listen 127.0.0.1:8000 >/dev/null &
upstream=$!
trap 'kill $upstream 2>/dev/null' EXIT INT TERM
cat <<MSG

h2guard is starting in front of the demo upstream (127.0.0.1:8000). Try:

  curl --http2 -k https://127.0.0.1:8443/hello          # HTTP/2 over TLS
  curl --http2-prior-knowledge http://127.0.0.1:8080/    # h2c
  curl http://127.0.0.1:8080/headers                     # HTTP/1.1

MSG
build/h2guard -c conf/h2guard.conf
