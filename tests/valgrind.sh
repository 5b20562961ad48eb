#!/bin/sh
# Runs integration tests with h2guard under valgrind memcheck: every
# h2guard the tests start runs as
#   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
#            --error-exitcode=99 h2guard ...
# so that an invalid read or write, a use of uninitialised memory or a leak
# makes h2guard exit 99, which fails the test (the tests check h2guard's exit
# status).  Each h2guard's valgrind report is kept in $OUT (default
# build/valgrind/).  Not part of make check: it takes several minutes.
#
#   tests/valgrind.sh [TEST...]
#
# Default: every integration test but test_h2spec (whose 5 s timeouts
# valgrind cannot keep) and test_floods (which bounds the attack units a
# client gets to send before its teardown, assuming h2guard keeps up with
# the client; under valgrind it is twenty times slower).  test_exhaustion
# skips its out-of-descriptors part (valgrind holds descriptors of its own).
# PCRE2's JIT code is suppressed (tests/valgrind.supp says why).
#
# Needs a build in build/ (tests/run-tests.sh makes one) and valgrind
# (apt-get install -y valgrind).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
: "${BUILD_DIR:=build}"
: "${OUT:=$top/$BUILD_DIR/valgrind}"
command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install -y valgrind" >&2; exit 2; }
[ -x "$BUILD_DIR/h2guard" ] || { echo "no $BUILD_DIR/h2guard: run tests/run-tests.sh first" >&2; exit 2; }
rm -rf "$OUT"
mkdir -p "$OUT"
wrap=$OUT/h2guard
cat >"$wrap" <<WRAP
#!/bin/sh
exec valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect \\
	--show-leak-kinds=definite,indirect --error-exitcode=99 --num-callers=30 --suppressions=$top/tests/valgrind.supp ${VALGRIND_OPTS:-} \\
	--log-file="$OUT/h2guard.%p.log" "$top/$BUILD_DIR/h2guard" "\$@"
WRAP
chmod +x "$wrap"
tests=${*:-cli proxy concurrency large upstream hostile ban flood flood_edges ops exhaustion banshare}
status=0
for t in $tests; do
	start=$(date +%s)
	if H2GUARD_BIN=$wrap H2GUARD_UPSTREAM=$top/$BUILD_DIR/tests/upstream/h2guard-upstream \
		H2GUARD_SRCDIR=$top PYTHONPATH=$top/tests/integration H2GUARD_VALGRIND=1 \
		/usr/bin/python3 "tests/integration/test_$t.py" >"$OUT/test_$t.out" 2>&1; then
		echo "PASS test_$t ($(( $(date +%s) - start )) s)"
	else
		echo "FAIL test_$t ($(( $(date +%s) - start )) s): $OUT/test_$t.out"
		grep -E '^FAIL|Error' "$OUT/test_$t.out" | head -5
		status=1
	fi
done
errs=$(grep -l 'ERROR SUMMARY: [1-9]' "$OUT"/h2guard.*.log 2>/dev/null || true)
runs=$(ls "$OUT"/h2guard.*.log 2>/dev/null | wc -l)
echo "valgrind: $runs h2guard runs, $(echo "$errs" | grep -c . || true) with errors"
for f in $errs; do
	echo "== $f"
	grep -A30 -m1 -E '(Invalid|uninitialised|definitely lost|indirectly lost)' "$f" | head -40
	status=1
done
exit $status
