#!/usr/bin/env bash
# scripts/fuzz_image.sh [RUNS|SECONDSs] - build the image mount libFuzzer
# target (test/fuzz/image_mount_fuzz.cc) with clang++-14
# -fsanitize=fuzzer,address,undefined over the server sources and run it.
#   scripts/fuzz_image.sh 500     the short fixed run (test.sh)
#   scripts/fuzz_image.sh 600s    ten minutes
# Corpus: $ZUFUSE_FUZZ_BUILD/image-corpus; crashes: .../image-artifacts/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${ZUFUSE_FUZZ_BUILD:-$ROOT/build-fuzz}
CXX_FUZZ=${CXX_FUZZ:-clang++-14}
arg=${1:-60s}
case $arg in
*s) limit=(-max_total_time="${arg%s}") ;;
*)  limit=(-runs="$arg") ;;
esac
mkdir -p "$OUT/image-corpus" "$OUT/image-artifacts"
exe=$OUT/image_mount_fuzz
srcs=($(sed -n "s|^ *'\(.*\.cc\)',*$|$ROOT/src/server/\1|p" "$ROOT/src/server/meson.build"))
[[ -d $ROOT/src/fault ]] && srcs+=("$ROOT"/src/fault/*.cc) # the server's SIGBUS guard
srcs+=("$ROOT/test/fuzz/image_mount_fuzz.cc")
stale=0
[[ -x $exe ]] || stale=1
for f in "${srcs[@]}" "$ROOT"/src/server/*.h "$ROOT"/src/server/pmfs/*.h; do
	[[ $f -nt $exe ]] && stale=1
done
if ((stale)); then
	echo "==> building $exe"
	"$CXX_FUZZ" -std=c++20 -O1 -g -Wall -Wextra -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -D_GNU_SOURCE \
		-I"$ROOT/include" -I"$ROOT/src" $(pkg-config --cflags blkid) \
		"${srcs[@]}" -lpmem -lpthread $(pkg-config --libs blkid) -o "$exe"
fi
# Seeds (test/fuzz/image_mount_fuzz.cc: byte 0 picks the clean or the
# crashed template, then patch records): each template untouched, a future
# version, an inode-table poke, a live journal lane, a directory block and
# an xattr block poked (region 6).
c=$OUT/image-corpus
[[ -n $(ls -A "$c") ]] || {
	printf '\x00' >"$c/seed-clean"
	printf '\x01' >"$c/seed-crashed"
	printf '\x00\x00\x08\x00\x04\x02\x00\x00\x00' >"$c/seed-version"
	printf '\x00\x04\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00' >"$c/seed-itable"
	printf '\x01\x02\x00\x00\x08\x01\x00\x00\x00\x00\x00\x00\x00' >"$c/seed-lane"
	printf '\x00\x06\x00\x01\x08\xff\xff\xff\xff\x03\x00\x00\x00' >"$c/seed-dirblock"
	printf '\x00\x06\x07\x00\x04\x00\x00\x01\x00' >"$c/seed-struct"
}
log=$OUT/image-last-run.log
rc=0
(cd "$OUT" && "$exe" "${limit[@]}" -max_len=512 -len_control=0 -print_final_stats=1 \
	-artifact_prefix="$OUT/image-artifacts/" image-corpus) >"$log" 2>&1 || rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
if ((rc != 0)) || [[ -z $runs ]]; then
	grep -v '^zufuse: image' "$log" | tail -60 >&2
	echo "error: image fuzzer failed (exit $rc); log: $log" >&2
	exit 1
fi
echo "fuzz: image_mount_fuzz: $runs runs, no crash"
