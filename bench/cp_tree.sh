#!/usr/bin/env bash
# bench/cp_tree.sh - `cp -a SRC` (default /usr/include) into three places, in
# one run, and the ratios:
#   native   a directory on the disk that holds DISK_DIR
#   disk     zufuse on an image file in DISK_DIR (an ordinary disk: the
#            file back-end, or msync on builds without it)
#   shm      zufuse on an image in /dev/shm
# Two times per copy: `cp -a` alone, and until its data is on the disk it
# belongs to (then `sync -f`, syncfs, for native; `sync DIR`, an fsync, for
# zufuse: the kernel forwards syncfs to no FUSE server but virtiofs, and a
# zufuse fsync commits the whole image), so a copy that only filled the
# page cache does not look faster than it is. Then `rm -rf` of the copy,
# synced the same way: unlinks only.
#
# Environment (all optional):
#   SRC=/usr/include     the tree to copy
#   DISK_DIR=/var/tmp    a directory on the disk to measure (not tmpfs)
#   SIZE=2G              image size
#   BUILD=build          meson build dir holding zufuse
#   ZUFUSE_OPTS=""       extra zufuse options
#   RUNS=1               copies per target (the best is printed)
# Numbers move between runs and machines: compare only within one run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
SRC=${SRC:-/usr/include}
DISK_DIR=${DISK_DIR:-/var/tmp}
SIZE=${SIZE:-2G}
RUNS=${RUNS:-1}

die() { printf 'cp_tree.sh: %s\n' "$*" >&2; exit 1; }
[[ -x $BUILD/zufuse ]] || die "$BUILD/zufuse not built (meson setup build && ninja -C build)"
[[ -d $SRC ]] || die "no $SRC"
[[ $(stat -f -c %T "$DISK_DIR") != tmpfs ]] || die "DISK_DIR=$DISK_DIR is tmpfs, not a disk"

WORK=$(mktemp -d "$DISK_DIR/zufuse-cp.XXXXXX")
SHM=$(mktemp -d /dev/shm/zufuse-cp.XXXXXX)
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
	"$BUILD/zufuse" "$MNT" --pmem="$1" --size="$SIZE" -f ${ZUFUSE_OPTS:-} \
		>"$WORK/fs.log" 2>&1 &
	fs_pid=$!
	for _ in $(seq 400); do
		bench_is_mounted "$MNT" && return 0
		kill -0 "$fs_pid" 2>/dev/null || break
		sleep 0.025
	done
	cat "$WORK/fs.log" >&2
	die "mount failed: $1"
}

# "CP SYNCED RM": seconds (3 decimals) of `cp -a SRC DIR/t`, until synced,
# and of `rm -rf DIR/t` then synced (metadata only).
time_copy() {
	local t0 t1 t2 t3 t4
	sync
	t0=$(date +%s.%N)
	cp -a "$SRC" "$1/t"
	t1=$(date +%s.%N)
	if [[ $2 == native ]]; then sync -f "$1/t"; else sync "$1/t"; fi
	t2=$(date +%s.%N)
	rm -rf "$1/t"
	if [[ $2 == native ]]; then sync -f "$1"; else sync "$1"; fi
	t3=$(date +%s.%N)
	echo "$t0 $t1 $t2 $t3" | awk '{ printf "%.3f %.3f %.3f", $2 - $1, $3 - $1, $4 - $3 }'
}

# The run with the best synced time: "CP SYNCED RM".
best() { awk 'NF == 3 && (!n++ || $2 < b) { b = $2; l = $0 } END { print l }'; }

entries=$(find "$SRC" | wc -l)
bytes=$(du -sb "$SRC" | cut -f1)
declare -A cp synced rm
for target in native disk shm; do
	runs=""
	for _ in $(seq "$RUNS"); do
		case $target in
		native)
			mkdir -p "$WORK/native"
			runs+="$(time_copy "$WORK/native" native)"$'\n'
			rm -rf "$WORK/native"
			;;
		disk | shm)
			img=$WORK/img.pmem
			[[ $target == shm ]] && img=$SHM/img.pmem
			rm -f "$img"
			mount_image "$img"
			runs+="$(time_copy "$MNT" zufuse)"$'\n'
			unmount_fs
			grep -h "commits" "$WORK/fs.log" >&2 || true
			rm -f "$img"
			;;
		esac
	done
	read -r cp[$target] synced[$target] rm[$target] <<<"$(best <<<"$runs")"
	printf '%-7s cp %8ss, synced %8ss, rm -rf %8ss\n' "$target" "${cp[$target]}" \
		"${synced[$target]}" "${rm[$target]}" >&2
done

echo "# zufuse bench/cp_tree.sh $(date +%Y%m%d-%H%M%S): cp -a $SRC ($entries entries," \
	"$((bytes / 1000000)) MB), $(uname -r), $(nproc) CPUs, zufuse" \
	"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), disk: $DISK_DIR" \
	"($(stat -f -c %T "$DISK_DIR")), ZUFUSE_OPTS='${ZUFUSE_OPTS:-}'"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-10s %9s %9s %9s %9s %9s %9s\n' target cp_s x_native synced_s x_native rm_s x_native
for t in native disk shm; do
	printf '%-10s %9s %9s %9s %9s %9s %9s\n' "$t" \
		"${cp[$t]}" "$(ratio "${cp[$t]}" "${cp[native]}")" \
		"${synced[$t]}" "$(ratio "${synced[$t]}" "${synced[native]}")" \
		"${rm[$t]}" "$(ratio "${rm[$t]}" "${rm[native]}")"
done
printf 'disk / shm: cp %s, synced %s, rm -rf %s\n' "$(ratio "${cp[disk]}" "${cp[shm]}")" \
	"$(ratio "${synced[disk]}" "${synced[shm]}")" "$(ratio "${rm[disk]}" "${rm[shm]}")"
