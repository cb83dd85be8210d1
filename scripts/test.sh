#!/usr/bin/env bash
# scripts/test.sh [meson test args] - install what is missing, build, and run
# every test: `meson test` (suites unit and integration; integration mounts
# real FUSE file systems, so run as root with /dev/fuse), then the sanitized
# build (build/sanitize: clang-14, ASan + UBSan) with `meson test --setup
# sanitize`: the unit tests and the libFuzzer targets' short runs (suite
# fuzz: 20000 iomaps into the executor, 500 corrupt images through mount).
# Then scripts/check_format.sh (the layout .clang-format gives). Prints
# meson's summaries and exits non-zero on any failure.
#   ZUFUSE_SANITIZE=0   skip the sanitized build and its tests
#   extra args go to the first meson test, e.g. scripts/test.sh --suite unit
#   (and then the sanitized run is skipped unless ZUFUSE_SANITIZE=1)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

zf_install_packages
zf_build
zf_check_fuse

start=$SECONDS
sanitize=${ZUFUSE_SANITIZE:-1}
(($# > 0)) && sanitize=${ZUFUSE_SANITIZE:-0}
rc=0
# meson prints its own summary (Ok/Fail/Timeout counts) at the end.
# The 60-second soak (suite soak) is left out of the default run while a
# rare ENOSPC with T2 room under it is open (README, "soak"); `meson test
# --suite soak` and scripts/soak.sh run it.
if (($# == 0)); then
	set -- --no-suite soak
fi
zf_say "meson test -C $ZUFUSE_BUILD --print-errorlogs $*"
meson test -C "$ZUFUSE_BUILD" --print-errorlogs "$@" || rc=$?

san_rc=0
san_start=$SECONDS
if [[ $sanitize != 0 ]]; then
	zf_setup_sanitize
	zf_say "meson test -C $ZUFUSE_SANITIZE_BUILD --setup sanitize"
	# Builds only what the unit and fuzz suites need, then runs them.
	meson test -C "$ZUFUSE_SANITIZE_BUILD" --setup sanitize \
		--print-errorlogs || san_rc=$?
	zf_say "sanitized build and tests: $((SECONDS - san_start)) s"
fi

# Layout: every C/C++ source as .clang-format says (clang-format-14).
fmt_rc=0
zf_say "scripts/check_format.sh (clang-format-14, .clang-format)"
"$ZUFUSE_ROOT/scripts/check_format.sh" || fmt_rc=$?

echo
if ((rc != 0)); then
	printf 'FAILED: meson test exit %d; log: %s/meson-logs/testlog.txt\n' \
		"$rc" "$ZUFUSE_BUILD" >&2
	"$ZUFUSE_ROOT/scripts/failed_tests.py" \
		"$ZUFUSE_BUILD/meson-logs/testlog.json" >&2 || true
fi
if ((san_rc != 0)); then
	printf 'FAILED: sanitized meson test exit %d; log: %s/meson-logs/testlog-sanitize.txt\n' \
		"$san_rc" "$ZUFUSE_SANITIZE_BUILD" >&2
	"$ZUFUSE_ROOT/scripts/failed_tests.py" \
		"$ZUFUSE_SANITIZE_BUILD/meson-logs/testlog-sanitize.json" >&2 || true
fi
if ((fmt_rc != 0)); then
	printf 'FAILED: scripts/check_format.sh: files differ from .clang-format (scripts/format.sh fixes them)\n' >&2
fi
if ((rc != 0 || san_rc != 0 || fmt_rc != 0)); then
	exit 1
fi
zf_say "all tests passed in $((SECONDS - start)) s"
