#!/usr/bin/env bash
# scripts/soak.sh [SECONDS] - the load run of issue 11, not in CI: 16 workers
# (random file operations checked against a model, fio 4K mixed random
# O_DIRECT I/O, metadata churn, sequential readers) for SECONDS (default
# 600) against one mount of 64 MiB pmem + 256 MiB T2, so T2 evicts and
# promotes all along. Prints the operations, errors, zufuse's RSS and open
# descriptors at start, middle and end, the tier counters; fails on any
# error, hang, unbounded growth, lost fsynced data or an fsck complaint.
# meson's integration_soak runs the same test for 60 s.
# Uses $ZUFUSE_BUILD (default build/); builds it first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${ZUFUSE_BUILD:-$ROOT/build}
seconds=${1:-600}
[[ -d $BUILD ]] || meson setup "$BUILD" "$ROOT"
ninja -C "$BUILD" test/integration/soak_test zufuse fsck.zufs
command -v fio >/dev/null || { echo "soak: fio is needed" >&2; exit 1; }
echo "==> soak: $seconds s"
ZUFUSE_SOAK_SECONDS=$seconds ZUFUSE=$BUILD/zufuse FSCK_ZUFS=$BUILD/fsck.zufs \
	FIO=$(command -v fio) "$BUILD/test/integration/soak_test" --reporter compact
