#!/usr/bin/env bash
# scripts/fuzz.sh [RUNS|SECONDSs] - build the iomap executor libFuzzer target
# (test/fuzz/iomap_executor_fuzz.cc) with clang++-14
# -fsanitize=fuzzer,address,undefined and run it.
#
#   scripts/fuzz.sh           run for 60 seconds
#   scripts/fuzz.sh 20000     run 20000 inputs (the smoke run of test.sh)
#   scripts/fuzz.sh 600s      run for 600 seconds
#
# The corpus persists in $ZUFUSE_FUZZ_BUILD/corpus (seeded with one valid
# iomap per op type), crashes land in $ZUFUSE_FUZZ_BUILD/artifacts/. Prints
# the number of runs and executions per second; exits non-zero on a crash.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${ZUFUSE_FUZZ_BUILD:-$ROOT/build-fuzz}
CXX_FUZZ=${CXX_FUZZ:-clang++-14}
arg=${1:-60s}

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

case $arg in
*s) [[ ${arg%s} =~ ^[0-9]+$ ]] || die "bad duration: $arg"
    limit=(-max_total_time="${arg%s}") ;;
*)  [[ $arg =~ ^[0-9]+$ ]] || die "usage: $0 [RUNS|SECONDSs]"
    limit=(-runs="$arg") ;;
esac

command -v "$CXX_FUZZ" >/dev/null ||
	die "$CXX_FUZZ not found (apt-get install clang-14 libclang-rt-14-dev)"

mkdir -p "$OUT/corpus" "$OUT/artifacts"
exe=$OUT/iomap_executor_fuzz
# Every source of iomap_lib (src/iomap/meson.build), and the fault layer
# it may use.
srcs=("$ROOT"/src/iomap/*.cc)
[[ -d $ROOT/src/fault ]] && srcs+=("$ROOT"/src/fault/*.cc)
srcs+=("$ROOT"/test/fuzz/iomap_executor_fuzz.cc)
hdrs=("$ROOT"/src/iomap/*.h "$ROOT"/include/zufs/*.h)

# Rebuild when a source or header is newer than the binary.
stale=0
[[ -x $exe ]] || stale=1
for f in "${srcs[@]}" "${hdrs[@]}"; do
	[[ $f -nt $exe ]] && stale=1
done
if ((stale)); then
	say "building $exe"
	"$CXX_FUZZ" -std=c++20 -O1 -g -Wall -Wextra \
		-fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined \
		-D_GNU_SOURCE -DBOOST_ASIO_HAS_IO_URING \
		-DBOOST_ASIO_DISABLE_EPOLL \
		-I"$ROOT/include" -I"$ROOT/src" \
		"${srcs[@]}" -luring -lpthread -o "$exe" ||
		die "building the fuzzer failed"
fi

# Seeds: one valid iomap per op type (flags byte, then little-endian u64s;
# 0xFEED<pool><offset> is relocated into that pool by the target).
if [[ -z $(ls -A "$OUT/corpus") ]]; then
	python3 - "$OUT/corpus" <<'PY'
import struct, sys, os
d = sys.argv[1]
def op(t, v): return (t << 56) | v
def pool(p, off): return (0xFEED << 48) | (p << 40) | off
APP = 7
seeds = {
  "t1": [op(2, (3 << 3)), op(2, 0), op(1, (5 << 3))],
  "t2": [op(3, 1), 4096, op(4, 2), (1 << 3) | APP],
  "t2len": [op(5, 3), 0, 4, op(6, 10), (0 << 3) | APP, 2],
  "zusmem": [op(7, 20), pool(1, 0), 8192, op(8, 30), pool(0, 4096), 100],
  "unmap": [op(9, 1), 2, 0, op(9, 0), 0, 7, op(9, 4), 1, 42],
  "mixed": [op(9, 0), 1, 0, op(4, 5), (2 << 3) | APP, op(2, 1 << 3),
            op(8, 6), pool(1, 8192), 4096, 0],
}
for name, u64s in seeds.items():
  for flags in (0, 8):
    with open(os.path.join(d, f"seed-{name}-{flags}"), "wb") as f:
      f.write(bytes([flags]) + b"".join(struct.pack("<Q", x) for x in u64s))
PY
fi

log=$OUT/last-run.log
say "fuzzing iomap executor (${limit[*]})"
start=$(date +%s.%N)
rc=0
(cd "$OUT" && "$exe" "${limit[@]}" -print_final_stats=1 \
	-dict="$ROOT/test/fuzz/iomap.dict" -artifact_prefix="$OUT/artifacts/" \
	-max_len=4096 corpus) >"$log" 2>&1 || rc=$?
end=$(date +%s.%N)

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
if ((rc != 0)) || [[ -z $runs ]]; then
	grep -v '^zufuse: iomap refused' "$log" | tail -60 >&2
	die "fuzzer failed (exit $rc); full log: $log; crash inputs: $OUT/artifacts/"
fi
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
eps=$(awk -v r="$runs" -v s="$secs" 'BEGIN { printf "%d", (s > 0 ? r / s : r) }')
corpus=$(ls "$OUT/corpus" | wc -l)
printf 'fuzz: iomap_executor_fuzz: %s runs in %s s (%s exec/s), corpus %s inputs, no crash\n' \
	"$runs" "$secs" "$eps" "$corpus"
