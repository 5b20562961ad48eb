#!/bin/sh
# gen-demo-cert.sh [DIR] - makes the self-signed demo certificate used by
# conf/h2guard.conf: an EC P-256 key and a certificate for CN=localhost,
# subjectAltName DNS:localhost, IP:127.0.0.1, IP:::1, valid 825 days,
# written to DIR/demo-cert.pem and DIR/demo-key.pem (DIR defaults to the
# directory of this script, conf/).  Does nothing when both files exist.
# For demos and tests only: clients must be told to trust it (curl -k or
# --cacert conf/demo-cert.pem).
set -eu

dir=${1:-$(dirname -- "$0")}
cert=$dir/demo-cert.pem
key=$dir/demo-key.pem

if [ -f "$cert" ] && [ -f "$key" ]; then
	exit 0
fi
command -v openssl >/dev/null 2>&1 || {
	echo "$0: the openssl command is needed" >&2
	exit 1
}
mkdir -p -- "$dir"

# Write under temporary names and rename, so that an interrupted run never
# leaves a half-made pair behind; the key is readable by its owner only.
tmpcert=$dir/.demo-cert.pem.$$
tmpkey=$dir/.demo-key.pem.$$
trap 'rm -f -- "$tmpcert" "$tmpkey"' EXIT
trap 'exit 1' HUP INT TERM
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-sha256 -days 825 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
	-keyout "$tmpkey" -out "$tmpcert" 2>/dev/null
chmod 644 "$tmpcert"
mv -f -- "$tmpkey" "$key"
mv -f -- "$tmpcert" "$cert"
echo "wrote $cert and $key"
