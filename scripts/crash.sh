#!/usr/bin/env bash
# scripts/crash.sh [SAMPLES] [SEEDS] - the crash-state explorer with a wider
# search than `meson test` runs: SAMPLES random in-flight subsets per fence
# (default 16) for each of SEEDS seeds (default 4), the recovery times of
# 1 GiB and 8 GiB images with a busy journal, then the kill -9 test.
# Uses $ZUFUSE_BUILD (default build/); builds it first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${ZUFUSE_BUILD:-$ROOT/build}
samples=${1:-16}
seeds=${2:-4}
[[ -d $BUILD ]] || meson setup "$BUILD" "$ROOT"
ninja -C "$BUILD" test/crash/crash_explorer_test zufuse fsck.zufs
total=0
for ((seed = 1; seed <= seeds; ++seed)); do
	echo "==> explorer: seed $seed, $samples samples per fence"
	out=$(ZUFS_CRASH_SAMPLES=$samples ZUFS_CRASH_SEED=$seed \
		"$BUILD/test/crash/crash_explorer_test" --reporter compact) || {
		echo "$out"
		echo "FAILED (seed $seed)" >&2
		exit 1
	}
	echo "$out" | grep '^crash explorer:'
	n=$(echo "$out" | awk '/^crash explorer:/ { s += $(NF-4) } END { print s + 0 }')
	total=$((total + n))
done
echo "==> crash states explored: $total, no failure"
echo "==> recovery time: 1 GiB and 8 GiB images, 8 lanes stopped mid-transaction, 100 orphans, a cut truncation"
"$BUILD/test/crash/crash_explorer_test" "[.recovery]" 2>&1 | grep -E '^(recovery|zufuse):'
if [[ -x $BUILD/test/crash/crash_kill9_test ]]; then
	echo "==> kill -9 test"
	ZUFUSE=$BUILD/zufuse FSCK_ZUFS=$BUILD/fsck.zufs ZUFUSE_KILL_ITERS=${KILL_ITERS:-50} \
		"$BUILD/test/crash/crash_kill9_test"
fi
