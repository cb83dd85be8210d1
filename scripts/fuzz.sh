#!/usr/bin/env bash
# scripts/fuzz.sh [iomap|image] [RUNS|SECONDSs] - build a libFuzzer target
# of test/fuzz/meson.build in the sanitized build (build/sanitize: clang-14,
# ASan + UBSan, as scripts/test.sh makes it) and run it longer than the
# test suite's short runs do.
#
#   scripts/fuzz.sh               the iomap executor for 60 seconds
#   scripts/fuzz.sh iomap 20000   20000 inputs
#   scripts/fuzz.sh image 600s    the image mount path for 600 seconds
#
# New inputs persist in build/sanitize/test/fuzz/<target>/corpus (the
# checked-in seeds are test/fuzz/seeds/), crashes land in .../artifacts/.
# Prints the number of runs and executions per second; exits non-zero on
# a crash.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

what=iomap
[[ ${1:-} == iomap || ${1:-} == image ]] && { what=$1; shift; }
arg=${1:-60s}
case $what in
iomap) exe=iomap_executor_fuzz work=iomap_executor
       flags=(-max_len=4096 -dict="$ZUFUSE_ROOT/test/fuzz/iomap.dict") ;;
image) exe=image_mount_fuzz work=image_mount
       flags=(-max_len=512 -len_control=0) ;;
esac

zf_setup_sanitize
ninja -C "$ZUFUSE_SANITIZE_BUILD" "test/fuzz/$exe" ||
	zf_die "building $exe failed"
zf_say "fuzzing $exe ($arg)"
"$ZUFUSE_ROOT/test/fuzz/run_fuzz.sh" "$ZUFUSE_SANITIZE_BUILD/test/fuzz/$exe" \
	"$ZUFUSE_ROOT/test/fuzz/seeds/$what" \
	"$ZUFUSE_SANITIZE_BUILD/test/fuzz/$work" "$arg" "${flags[@]}"
