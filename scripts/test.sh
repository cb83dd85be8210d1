#!/usr/bin/env bash
# scripts/test.sh [meson test args] - install what is missing, build, and run
# every test: `meson test` (suites unit and integration; integration mounts
# real FUSE file systems, so run as root with /dev/fuse), then the fuzz smoke
# runs (scripts/fuzz.sh: 20000 inputs into the iomap executor; and
# scripts/fuzz_image.sh: corrupt images through mount; clang-14).
# Prints meson's summary and exits non-zero on any failure.
#   ZUFUSE_FUZZ_RUNS=0   skip the fuzz smoke run
#   extra args go to meson test, e.g. scripts/test.sh --suite unit
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

zf_install_packages
zf_build
zf_check_fuse

start=$SECONDS
zf_say "meson test -C $ZUFUSE_BUILD --print-errorlogs $*"
rc=0
# meson prints its own summary (Ok/Fail/Timeout counts) at the end.
meson test -C "$ZUFUSE_BUILD" --print-errorlogs "$@" || rc=$?

fuzz_rc=0
runs=${ZUFUSE_FUZZ_RUNS:-20000}
if [[ $runs != 0 && -x $ZUFUSE_ROOT/scripts/fuzz.sh ]]; then
	ZUFUSE_FUZZ_BUILD=$ZUFUSE_BUILD/fuzz "$ZUFUSE_ROOT/scripts/fuzz.sh" "$runs" ||
		fuzz_rc=$?
fi
if [[ $runs != 0 && -x $ZUFUSE_ROOT/scripts/fuzz_image.sh ]]; then
	# The image mount path: corrupt images refused or mounted safely.
	ZUFUSE_FUZZ_BUILD=$ZUFUSE_BUILD/fuzz "$ZUFUSE_ROOT/scripts/fuzz_image.sh" 500 ||
		fuzz_rc=$?
fi

echo
if ((rc != 0)); then
	printf 'FAILED: meson test exit %d; log: %s/meson-logs/testlog.txt\n' \
		"$rc" "$ZUFUSE_BUILD" >&2
fi
if ((fuzz_rc != 0)); then
	printf 'FAILED: fuzz smoke run exit %d\n' "$fuzz_rc" >&2
fi
if ((rc != 0 || fuzz_rc != 0)); then
	exit 1
fi
zf_say "all tests passed in $((SECONDS - start)) s"
