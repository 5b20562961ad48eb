#!/bin/sh
# Benchmark (not part of make check): h2load req/s through h2guard and
# through nghttpx (one worker each, the same upstream, TLS h2 and h2c), in
# the same run, alternating rounds, then the ratio h2guard / nghttpx.
#
#   tests/bench/h2load-vs-nghttpx.sh [ROUNDS] [REQUESTS]
#
# Needs a build in build/ (tests/run-tests.sh makes one) and the Debian
# packages nghttp2-client and nghttp2-proxy.  All traffic stays on 127.0.0.1.
set -eu
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
N=${2:-100000}
B=build
command -v nghttpx >/dev/null || { echo "nghttpx missing: apt-get install nghttp2-proxy"; exit 1; }
command -v h2load >/dev/null || { echo "h2load missing: apt-get install nghttp2-client"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $pids 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
conf/gen-demo-cert.sh "$tmp"
cert=$tmp/demo-cert.pem key=$tmp/demo-key.pem

"$B/tests/upstream/h2guard-upstream" --listen 127.0.0.1:18000 >/dev/null &
pids=$!
cat >"$tmp/h2guard.conf" <<CONF
listen 127.0.0.1:18443 tls
listen 127.0.0.1:18080
tls_certificate $cert
tls_certificate_key $key
upstream 127.0.0.1:18000
log_level error
# All the load comes from one address and a few connections: the per-client
# and per-connection request limits would stop it (nghttpx has none).
limit stream_rate off
limit streams off
limit client_stream_rate off
limit client_conn_rate off
CONF
"$B/h2guard" -c "$tmp/h2guard.conf" &
pids="$pids $!"
nghttpx --workers=1 -f'127.0.0.1,19443' -f'127.0.0.1,19080;no-tls' \
	-b'127.0.0.1,18000' --errorlog-file=/dev/null --backend-keep-alive-timeout=60s \
	"$key" "$cert" 2>/dev/null &
pids="$pids $!"
sleep 1

run() {	# run URL: prints req/s
	h2load -n "$N" -c 32 -m 16 "$1" 2>/dev/null |
		awk '/^finished in/ { gsub(",", "", $4); print $4 }'
}

for proto in tls h2c; do
	if [ $proto = tls ]; then a=https://127.0.0.1:18443/ b=https://127.0.0.1:19443/
	else a=http://127.0.0.1:18080/ b=http://127.0.0.1:19080/; fi
	run "$a" >/dev/null; run "$b" >/dev/null	# warm up
	results=
	for i in $(seq "$ROUNDS"); do
		ra=$(run "$a"); rb=$(run "$b")
		echo "$proto round $i: h2guard $ra req/s, nghttpx $rb req/s"
		results="$results $ra $rb"
	done
	echo "$results" | awk -v p="$proto" '{ for (i = 1; i <= NF; i += 2) { a += $i; b += $(i + 1) }
		n = NF / 2; printf "%s h2load -c 32 -m 16: h2guard %.0f req/s, nghttpx %.0f req/s, ratio %.2f\n",
		p, a / n, b / n, a / b }'
done
