#!/usr/bin/env bash
# bench/dsync_disk.sh - 4K O_DIRECT+O_DSYNC random writes (the fio job
# bench/jobs/$JOB.fio: randwrite-4k-direct-dsync, compare.sh's, writes
# into blocks fio fallocated; randoverwrite-4k-direct-dsync over data
# already written) on one disk, in one run:
#   native   a file in a directory of DISK_DIR's file system (ext4 here)
#   disk     zufuse on an image file in DISK_DIR (the file back-end,
#            persist_file.h), transport as compare.sh's zufuse-disk
#   shm      zufuse on an image in /dev/shm (no disk: the FUSE cost)
# RUNS rounds, each running every target once (fresh), so that a disk
# whose flush time drifts moves all targets alike; prints every run's
# IOPS, the medians, and disk's ratio to native and to shm. Each O_DSYNC write costs
# the disk one flush on ext4; the zufuse lines (its unmount statistics)
# say how many commits and commit-free data syncs it made.
#
# Environment (all optional):
#   DISK_DIR=/var/tmp   a directory on the disk to measure (not tmpfs)
#   JOB=randwrite-4k-direct-dsync
#   RUNS=3  RUNTIME=10  SIZE=256M  NUMJOBS=1
#   TARGETS="native disk shm"
#   BUILD=build         meson build dir holding zufuse
#   ZUFUSE_OPTS=""      extra zufuse options
# Needs root (FUSE mounts), fio. The flush time of a shared virtual disk
# moves a lot between runs: compare only within one run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
DISK_DIR=${DISK_DIR:-/var/tmp}
RUNS=${RUNS:-3}
RUNTIME=${RUNTIME:-10}
SIZE=${SIZE:-256M}
NUMJOBS=${NUMJOBS:-1}
TARGETS=${TARGETS:-native disk shm}

die() { printf 'dsync_disk.sh: %s\n' "$*" >&2; exit 1; }
JOB=${JOB:-randwrite-4k-direct-dsync}
JOBFILE=$ROOT/bench/jobs/$JOB.fio
[[ -f $JOBFILE ]] || die "no $JOBFILE"
[[ -x $BUILD/zufuse ]] || die "$BUILD/zufuse not built (meson setup build && ninja -C build)"
command -v fio >/dev/null || die "fio not found (apt-get install fio)"
[[ $(stat -f -c %T "$DISK_DIR") != tmpfs ]] || die "DISK_DIR=$DISK_DIR is tmpfs, not a disk"

WORK=$(mktemp -d "$DISK_DIR/zufuse-dsync.XXXXXX")
SHM=$(mktemp -d /dev/shm/zufuse-dsync.XXXXXX)
MNT=$WORK/mnt
mkdir -p "$MNT"
fs_pid=""

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
# shellcheck disable=SC2119 # no grace: wait for the last commit
unmount_fs() { bench_unmount_fs; }

cleanup() {
	unmount_fs
	rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount_image() {
	# shellcheck disable=SC2086
	"$BUILD/zufuse" "$MNT" --pmem="$1" --size=1G -f --no-uring \
		${ZUFUSE_OPTS:-} >"$WORK/fs.log" 2>&1 &
	fs_pid=$!
	for _ in $(seq 400); do
		bench_is_mounted "$MNT" && return 0
		kill -0 "$fs_pid" 2>/dev/null || break
		sleep 0.025
	done
	cat "$WORK/fs.log" >&2
	die "mount failed: $1"
}

# IOPS of one fio run on file $1.
run_fio() {
	FILENAME=$1 SIZE=$SIZE RUNTIME=$RUNTIME NUMJOBS=$NUMJOBS \
		fio --output-format=json "$JOBFILE" |
		python3 -c 'import json, sys
j = json.load(sys.stdin)["jobs"][0]
print("%.0f" % j["write"]["iops"])'
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A med all
for _ in $(seq "$RUNS"); do
	for target in $TARGETS; do
		case $target in
		native)
			mkdir -p "$WORK/native"
			iops=$(run_fio "$WORK/native/f")
			rm -rf "$WORK/native" ;;
		disk | shm)
			img=$WORK/img.pmem
			[[ $target == shm ]] && img=$SHM/img.pmem
			rm -f "$img"
			mount_image "$img"
			iops=$(run_fio "$MNT/f")
			unmount_fs
			grep -h "commits" "$WORK/fs.log" >&2 || true
			rm -f "$img" ;;
		*) die "unknown target $target" ;;
		esac
		all[$target]+="$iops "
		printf '%-7s %s IOPS\n' "$target" "$iops" >&2
	done
done
for target in $TARGETS; do
	med[$target]=$(median <<<"${all[$target]}")
done

echo "# zufuse bench/dsync_disk.sh $(date +%Y%m%d-%H%M%S): fio $JOB," \
	"numjobs $NUMJOBS, ${RUNTIME}s x $RUNS, $(uname -r), $(nproc) CPUs, zufuse" \
	"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), disk: $DISK_DIR" \
	"($(stat -f -c %T "$DISK_DIR")), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for t in $TARGETS; do
	printf '%-7s median %6s IOPS  (runs: %s)\n' "$t" "${med[$t]}" "${all[$t]% }"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
[[ -n ${med[disk]:-} && -n ${med[native]:-} ]] &&
	echo "disk / native: $(ratio "${med[disk]}" "${med[native]}")"
[[ -n ${med[disk]:-} && -n ${med[shm]:-} ]] &&
	echo "disk / shm: $(ratio "${med[disk]}" "${med[shm]}")"
exit 0
