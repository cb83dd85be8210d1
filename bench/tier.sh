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
#   T2-rand: the T2 setup, then 4K random O_DIRECT reads (psync, one job,
#       RUNTIME seconds per pass): each read of a T2 block is a cold read
#       (GET_MULTY answers ZUFS_GBF_READ, the READ is served inline from
#       T2) unless the block was read lately; a zufuse without cold reads
#       through the mount promotes every one.
#   T2-seq: a 128M image; a 64 MiB file, then an 80 MiB filler that pushes
#       it to T2, then the filler is removed: the file is on T2 and T1 has
#       room. Pass 1 reads it back from T2 (promotions; with pre-read, a
#       request that promotes brings the next 1 MiB too), pass 2 from T1.
#       Sequential reads of BS (1M, and 128K).
# The zufuse log's "zufuse: tier:" line (at unmount) is printed after each
# setup: promotions, pre-read blocks, cold reads.
# Images and T2 files live in /dev/shm (T2 opened buffered: tmpfs has no
# O_DIRECT), so these numbers are the software path, not a device.
#
# Environment: BUILD=build (meson build dir holding zufuse), PASSES=3,
# RUNTIME=5, ONLY="T1 T2 T2-small T2-rand" (the setups to run).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
PASSES=${PASSES:-3}
RUNTIME=${RUNTIME:-5}
ONLY=${ONLY:-"T1 T2 T2-small T2-rand T2-seq"}
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
umount_zufuse() {
	fusermount3 -u "$MNT"; wait "$PID" || true; PID=
	grep 'zufuse: tier:' "$D/zufuse.log" | tail -1 || true
	: >"$D/zufuse.log"
}
want() { [[ " $ONLY " == *" $1 "* ]]; }

write() { # NAME SIZE
	fio --name="$1" --filename="$MNT/$1" --rw=write --bs=1M --size="$2" \
		--ioengine=psync --end_fsync=1 --output-format=terse >/dev/null
}
# One pass of 1M sequential O_DIRECT reads: prints MB/s.
readpass() { # NAME [SIZE] [BS]
	fio --name="$1" --filename="$MNT/$1" --rw=read --bs="${3:-1M}" --size="${2:-256M}" \
		--direct=1 --ioengine=psync --output-format=terse |
		awk -F';' '{ printf "%.0f", $7 / 1024 }'
}
# One pass of 4K random O_DIRECT reads: prints IOPS.
randpass() { # NAME
	fio --name="$1" --filename="$MNT/$1" --rw=randread --bs=4k --size=256M \
		--direct=1 --ioengine=psync --time_based --runtime="$RUNTIME" \
		--output-format=terse | awk -F';' '{ printf "%.0f", $8 }'
}

if want T1; then
echo "== T1: 512M image, 256 MiB file on pmem"
mount_zufuse 512M
write hot 256M
for p in $(seq "$PASSES"); do echo "pass $p: $(readpass hot) MB/s"; done
umount_zufuse
fi

if want T2; then
echo "== T2: 64M image, 256 MiB file evicted to T2"
mount_zufuse 64M
write cold 256M
write filler 48M
sleep 1 # the evictor settles at its high watermark
df -k "$MNT" | tail -1
for p in $(seq "$PASSES"); do echo "pass $p: $(readpass cold) MB/s"; done
umount_zufuse
fi

if want T2-small; then
echo "== T2-small: 64M image, 32 MiB file evicted to T2"
mount_zufuse 64M
write cold 32M
write filler 56M
sleep 1
for p in $(seq "$PASSES"); do echo "pass $p: $(readpass cold 32M) MB/s"; done
umount_zufuse
fi

if want T2-rand; then
echo "== T2-rand: 64M image, 256 MiB file evicted to T2, 4K random O_DIRECT reads"
mount_zufuse 64M
write cold 256M
write filler 48M
sleep 1
for p in $(seq "$PASSES"); do echo "pass $p: $(randpass cold) IOPS"; done
umount_zufuse
fi

if want T2-seq; then
for bs in ${SEQ_BS:-1M 128K}; do
echo "== T2-seq: 128M image, 64 MiB file on T2, T1 with room, $bs reads"
mount_zufuse 128M
write cold 64M
write filler 80M
rm "$MNT/filler"
sleep 1
df -k "$MNT" | tail -1
for p in $(seq "$PASSES"); do echo "pass $p: $(readpass cold 64M $bs) MB/s"; done
umount_zufuse
done
fi
