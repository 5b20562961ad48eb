#!/bin/sh
# make check: replays each fuzz target's seed corpus (tests/fuzz/corpus/T)
# and regression inputs (tests/fuzz/regress/T, one file per bug a fuzzer
# found) through the target, built as tests/fuzz/replay_T.
set -eu
src=${H2GUARD_SRCDIR:-$(dirname "$0")/../..}
for t in conf proxyproto canon h1 h2 upstream; do
	set --
	for d in "$src/tests/fuzz/corpus/$t" "$src/tests/fuzz/regress/$t"; do
		[ -d "$d" ] && set -- "$@" "$d"
	done
	[ $# -gt 0 ] || { echo "FAIL: no seed corpus for $t"; exit 1; }
	tests/fuzz/replay_$t "$@"
done
