#!/usr/bin/env bash
# bench/tier.sh - read throughput of data on T1 (pmem) vs on T2 through a
# zufuse mount: fio 1M sequential O_DIRECT reads of one 256 MiB file.
#
#   T1: a 512 MiB image with a 1 GiB T2, nothing evicted: the file is on T1.
#   T2: a 64 MiB image with a 1 GiB T2: the file is written, then a 48 MiB
#       filler after it, so the evictor has moved (nearly) all of it to T2;
#       the first read pass is served from T2 (each GET_MULTY promotes by
#       -EZUFS_RETRY + IOM_T2_ZUSMEM_READ, while the evictor makes room),
#       the second pass reads what the first left on T1 and on T2.
#   T2-small: the same with a 32 MiB file and a 56 MiB filler: the first
#       pass brings the file back from T2 (evicting the filler), the next
#       ones read it from T1.
# Images and T2 files live in /dev/shm (T2 opened buffered: tmpfs has no
# O_DIRECT), so these numbers are the software path, not a device.
#
# Environment: BUILD=build (meson build dir holding zufuse), PASSES=3.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
PASSES=${PASSES:-3}
D=$(mktemp -d /dev/shm/zufuse-tierbench.XXXXXX)
MNT=$D/mnt
mkdir -p "$MNT"
PID=
cleanup() {
	if mountpoint -q "$MNT"; then fusermount3 -u "$MNT" || umount -l "$MNT"; fi
	[[ -n $PID ]] && wait "$PID" 2>/dev/null || true
	rm -rf "$D"
}
trap cleanup EXIT

mount_zufuse() { # SIZE
	rm -f "$D/img" "$D/t2"
	"$BUILD/zufuse" "$MNT" --pmem="$D/img" --size="$1" --t2="$D/t2,1G" -f \
		2>>"$D/zufuse.log" &
	PID=$!
	for _ in $(seq 100); do mountpoint -q "$MNT" && return 0; sleep 0.1; done
	echo "mount failed"; cat "$D/zufuse.log"; exit 1
}
umount_zufuse() { fusermount3 -u "$MNT"; wait "$PID" || true; PID=; }

write() { # NAME SIZE
	fio --name="$1" --filename="$MNT/$1" --rw=write --bs=1M --size="$2" \
		--ioengine=psync --end_fsync=1 --output-format=terse >/dev/null
}
# One pass of 1M sequential O_DIRECT reads: prints MB/s.
readpass() { # NAME [SIZE]
	fio --name="$1" --filename="$MNT/$1" --rw=read --bs=1M --size="${2:-256M}" \
		--direct=1 --ioengine=psync --output-format=terse |
		awk -F';' '{ printf "%.0f", $7 / 1024 }'
}

echo "== T1: 512M image, 256 MiB file on pmem"
mount_zufuse 512M
write hot 256M
for p in $(seq "$PASSES"); do echo "pass $p: $(readpass hot) MB/s"; done
umount_zufuse

echo "== T2: 64M image, 256 MiB file evicted to T2"
mount_zufuse 64M
write cold 256M
write filler 48M
sleep 1 # the evictor settles at its high watermark
df -k "$MNT" | tail -1
for p in $(seq "$PASSES"); do echo "pass $p: $(readpass cold) MB/s"; done
umount_zufuse

echo "== T2-small: 64M image, 32 MiB file evicted to T2"
mount_zufuse 64M
write cold 32M
write filler 56M
sleep 1
for p in $(seq "$PASSES"); do echo "pass $p: $(readpass cold 32M) MB/s"; done
umount_zufuse
