#!/usr/bin/env bash
# scripts/test.sh - install, build, and run every test suite (unit,
# integration, fuzz smoke runs) with meson. Exits non-zero on any failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

zf_install_packages
zf_build
zf_check_fuse

zf_say "meson test -C $ZUFUSE_BUILD"
rc=0
# meson prints its own summary (Ok/Fail/Timeout counts) at the end.
meson test -C "$ZUFUSE_BUILD" --print-errorlogs "$@" || rc=$?
if ((rc != 0)); then
	printf '\nFAILED (meson test exit %d); logs: %s/meson-logs/testlog.txt\n' \
		"$rc" "$ZUFUSE_BUILD" >&2
	exit "$rc"
fi
zf_say "all tests passed"
