#!/bin/bash
# umount_fsck_test.sh - "unmount is done when it returns" (issue 15): 100
# times write a file, umount, and fsck.zufs the image at once; fsck must
# never find the image locked (the zufuse that was unmounted releases it a
# few ms after umount(2) returns: the tools wait for it). Then the same
# with an immediate remount, as xfstests' generic/105 and 130 do.
#
# Needs root and /dev/fuse (else exit 77). Env: ZUFUSE, FSCK_ZUFS.
set -u
skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) == 0 ]] || skip "needs root (umount)"
[[ -c /dev/fuse ]] || skip "no /dev/fuse"
[[ -x ${ZUFUSE:-} && -x ${FSCK_ZUFS:-} ]] || skip "ZUFUSE and FSCK_ZUFS must name the binaries"

T=$(mktemp -d /dev/shm/zufuse-umount.XXXXXX) || exit 1
MNT=$T/mnt IMG=$T/img.pmem
mkdir "$MNT"
trap 'mountpoint -q "$MNT" && umount -l "$MNT"; rm -rf "$T"' EXIT

N=${N:-100}
fails=0 waited=0
for ((i = 1; i <= N; i++)); do
	"$ZUFUSE" "$IMG" "$MNT" -o size=32M 2>"$T/mount.err" ||
		{ echo "FAIL iteration $i: mount: $(cat "$T/mount.err")"; fails=$((fails + 1)); continue; }
	echo "$i" >"$MNT/f$i"
	umount "$MNT"
	"$FSCK_ZUFS" -n "$IMG" >"$T/fsck.out" 2>&1
	rc=$?
	grep -q "waiting" "$T/fsck.out" && waited=$((waited + 1))
	if ((rc != 0)); then
		echo "FAIL iteration $i: fsck.zufs exit $rc:"
		cat "$T/fsck.out"
		fails=$((fails + 1))
	fi
done
echo "write, umount, fsck: $N rounds, $fails failed ($waited waited long enough to say so)"

# umount then mount again at once (generic/105, 130), N/2 times.
for ((i = 1; i <= N / 2; i++)); do
	"$ZUFUSE" "$IMG" "$MNT" 2>"$T/mount.err" ||
		{ echo "FAIL remount $i: $(cat "$T/mount.err")"; fails=$((fails + 1)); continue; }
	test "$(cat "$MNT/f$N")" = "$N" || { echo "FAIL remount $i: f$N lost"; fails=$((fails + 1)); }
	umount "$MNT"
done
echo "umount, mount at once: $((N / 2)) rounds"
"$FSCK_ZUFS" -n "$IMG" >/dev/null || { echo "FAIL: final fsck"; fails=$((fails + 1)); }
((fails == 0))
