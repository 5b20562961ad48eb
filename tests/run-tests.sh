#!/bin/sh
# Builds h2guard (warnings are errors) in $BUILD_DIR (default build/) and runs
# the whole test suite: unit tests, integration tests with the real binary,
# real clients and a real upstream, and h2spec when ../shared/bin/h2spec or
# $H2SPEC exists.  Installs the Debian packages it needs first, unless
# --no-deps is given.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
[ "${1:-}" = "--no-deps" ] || tests/install-deps.sh
: "${BUILD_DIR:=build}"
: "${CONFIGURE_FLAGS:=--enable-werror}"
[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] ||
	autoreconf -fi
mkdir -p "$BUILD_DIR"
cd "$BUILD_DIR"
# shellcheck disable=SC2086
"$top/configure" $CONFIGURE_FLAGS >/dev/null
make -j"$(nproc)"
if ! make -j"$(nproc)" check; then
	for log in $(find . -name '*.log' ! -name test-suite.log ! -name config.log); do
		grep -q '^:test-result: \(FAIL\|ERROR\)' "${log%.log}.trs" 2>/dev/null || continue
		echo "==== $log"; tail -80 "$log"
	done
	exit 1
fi
