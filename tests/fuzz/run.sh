#!/bin/sh
# Runs the libFuzzer targets (tests/fuzz/fuzz_*.c), each for a bounded time.
#
#   tests/fuzz/run.sh [-t SECONDS] [TARGET...]
#
# Builds h2guard with clang and --enable-fuzzing in build-fuzz/ (or
# $BUILD_DIR) first, unless that build is up to date.  Each target (default:
# all of conf proxyproto canon h1 h2 upstream) runs for SECONDS (default 60) from
# a scratch corpus in build-fuzz/fuzz-corpus/TARGET, seeded from
# tests/fuzz/corpus/TARGET and tests/fuzz/regress/TARGET.  A crash, leak, sanitizer report or timeout
# is written to build-fuzz/fuzz-crashes/TARGET/ and makes this exit 1: add
# the input to tests/fuzz/regress/TARGET/ with the fix.  Needs clang
# (apt-get install clang).
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
secs=60
while getopts t: opt; do
	case $opt in
	t) secs=$OPTARG ;;
	*) echo "usage: $0 [-t SECONDS] [TARGET...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
targets=${*:-conf proxyproto canon h1 h2 upstream}
: "${BUILD_DIR:=build-fuzz}"

command -v clang >/dev/null || { echo "clang missing: apt-get install -y clang" >&2; exit 2; }
[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] ||
	autoreconf -fi
mkdir -p "$BUILD_DIR"
cd "$BUILD_DIR"
[ -f Makefile ] || CC=clang "$top/configure" --enable-werror --enable-fuzzing >/dev/null
make -j"$(nproc)" >/dev/null
for t in $targets; do
	make -j"$(nproc)" "tests/fuzz/fuzz_$t" >/dev/null
done

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for t in $targets; do
	corpus=fuzz-corpus/$t
	crashes=fuzz-crashes/$t
	mkdir -p "$corpus" "$crashes"
	set -- "$corpus" "$top/tests/fuzz/corpus/$t"
	[ -d "$top/tests/fuzz/regress/$t" ] && set -- "$@" "$top/tests/fuzz/regress/$t"
	echo "== fuzz_$t: ${secs}s"
	log=fuzz-$t.log
	if tests/fuzz/fuzz_"$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 -artifact_prefix="$crashes/" \
		"$@" >"$log" 2>&1; then
		# "#N DONE cov: C ft: F corp: ... exec/s: E rss: R"
		grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1
	else
		echo "FAIL: fuzz_$t found a problem (log: $BUILD_DIR/$log, inputs: $BUILD_DIR/$crashes/):"
		grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -20 || tail -40 "$log"
		status=1
	fi
done
exit $status
