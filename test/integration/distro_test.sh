#!/bin/bash
# distro_test.sh - zufuse as a file system of the distribution (issue 15):
# the binaries `meson install` puts in a DESTDIR, mounted through fstab
# (mount -T) and mount.fuse3; mkfs -t / fsck -t; mkfs's refusals (ext4, a
# partition table, a zufuse image) leaving the image byte-identical; a
# wiped block 0 repaired by fsck -y and by mount with the files intact;
# --size growing the file system (df, files, fsck), refusals that change
# nothing, and a kill -9 right after a growth.
#
# Needs root, /dev/fuse, mount.fuse3, mkfs.ext4; else exit 77 (skip).
# Env (meson passes them): BUILD_ROOT (the build dir to install from).
set -u

skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) == 0 ]] || skip "needs root (mount)"
[[ -c /dev/fuse ]] || skip "no /dev/fuse"
command -v mount.fuse3 >/dev/null || skip "no mount.fuse3 (apt-get install fuse3)"
command -v mkfs.ext4 >/dev/null || skip "no mkfs.ext4 (apt-get install e2fsprogs)"
[[ -n ${BUILD_ROOT:-} && -f $BUILD_ROOT/build.ninja ]] || skip "BUILD_ROOT is not a build dir"

T=$(mktemp -d /dev/shm/zufuse-distro.XXXXXX) || exit 1
MNT=$T/mnt
mkdir -p "$MNT"
fails=0
cleanup() {
	mountpoint -q "$MNT" && { umount "$MNT" || umount -l "$MNT"; }
	rm -rf "$T"
}
trap cleanup EXIT

exec 3>&1 # the verdicts, even of checks whose output goes to /dev/null
ok() { echo "ok   $*" >&3; }
bad() { echo "FAIL $*" >&3; fails=$((fails + 1)); }
# check DESCRIPTION COMMAND...: COMMAND must succeed.
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
fstype() { findmnt -n -o FSTYPE --mountpoint "$MNT"; }
size_of() { stat -c %s "$1"; }
df_blocks() { df --output=size -B4096 "$MNT" | tail -1 | tr -d ' '; }

# --- meson install into a DESTDIR ----------------------------------------
meson install -C "$BUILD_ROOT" --no-rebuild --quiet --destdir "$T/inst" >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log"; bad "meson install"; exit 1; }
P=$(dirname "$(find "$T/inst" -path '*/bin/zufuse' | head -1)")/..
P=$(cd "$P" && pwd)
ZUFUSE=$P/bin/zufuse MKFS=$P/sbin/mkfs.zufs FSCK=$P/sbin/fsck.zufs
for f in "$ZUFUSE" "$MKFS" "$FSCK"; do check "installed $f" test -x "$f"; done
for m in zufuse mkfs.zufs fsck.zufs; do
	check "man page $m.8 installed and renders" \
		bash -c "MANWIDTH=80 man -l '$P/share/man/man8/$m.8' 2>&1 >/dev/null | grep -q . && exit 1; exit 0"
done
check "--version on all three" bash -c "'$ZUFUSE' -V && '$MKFS' -V && '$FSCK' -V" >/dev/null

# --- mkfs -t zufs, fsck -t zufs (their PATH search finds sbin) -----------
IMG=$T/img.pmem
check "mkfs -t zufs" env PATH="$P/sbin:$PATH" mkfs -t zufs "$IMG" 64M >/dev/null
check "fsck -t zufs: clean" env PATH="$P/sbin:$PATH" fsck -t zufs "$IMG" >/dev/null

# --- fstab (mount -T), the installed binary, with fstab's own options ----
cat >"$T/fstab" <<EOF
# a fuse line names the program: mount.fuse3 runs it by this path
$ZUFUSE#$IMG $MNT fuse noauto,user,nofail,_netdev,x-systemd.automount,comment=zufuse,noatime 0 0
EOF
if mount -T "$T/fstab" "$MNT"; then
	check "fstab mount is fuse.zufuse" test "$(fstype)" = fuse.zufuse
	echo fstab >"$MNT/from-fstab"
	check "umount, then fsck finds the image clean at once" \
		bash -c "umount '$MNT' && '$FSCK' -n '$IMG' >'$T/fsck.out' 2>&1"
	grep -q "locked" "$T/fsck.out" && bad "fsck met a lock: $(cat "$T/fsck.out")"
else
	bad "mount -T fstab"
fi

# --- mount.fuse3, both forms (type fuse.zufuse: zufuse on PATH) ----------
if mount.fuse3 "$ZUFUSE#$IMG" "$MNT" -o rw,nodev; then
	check "mount.fuse3 'PATH#IMG': file from the fstab mount" \
		test "$(cat "$MNT/from-fstab")" = fstab
	umount "$MNT"
else
	bad "mount.fuse3 'PATH#IMG' MNT"
fi
if PATH="$P/bin:$PATH" mount.fuse3 "$IMG" "$MNT" -t fuse.zufuse -o ro; then
	check "mount.fuse3 -t fuse.zufuse -o ro is read-only" \
		bash -c "! touch '$MNT/x' 2>/dev/null"
	# A second zufuse on the same mount point is refused, not stacked.
	"$ZUFUSE" "$T/other.pmem" "$MNT" --size=32M 2>"$T/err"
	check "a second zufuse on a busy mount point is refused" \
		grep -q "already mounted" "$T/err"
	check "... and created no image" test ! -e "$T/other.pmem"
	check "... and stacked nothing" test "$(findmnt -n --mountpoint "$MNT" | wc -l)" = 1
	umount "$MNT"
else
	bad "mount.fuse3 IMG MNT -t fuse.zufuse"
fi

# --- unknown options: zufuse's own one line ------------------------------
"$ZUFUSE" "$IMG" "$MNT" -o rw,frob 2>"$T/err"
check "unknown -o option: exit 1" test $? = 1
check "unknown -o option: one line in zufuse's words" \
	bash -c "test \$(wc -l <'$T/err') = 1 && grep -q \"^zufuse: unknown mount option 'frob'\" '$T/err'"
check "... no mount" bash -c "! mountpoint -q '$MNT'"

# --- mkfs refuses what it recognises, changing nothing -------------------
E=$T/ext4.img
mkfs.ext4 -q -F "$E" 32M >/dev/null 2>&1 || bad "mkfs.ext4"
sum=$(sha256sum <"$E") size=$(size_of "$E")
"$MKFS" "$E" --size=64M 2>"$T/err"
check "mkfs.zufs over ext4: refused (exit 1)" test $? = 1
check "... naming ext4" grep -q "ext4" "$T/err"
"$ZUFUSE" "$E" "$MNT" --mkfs --size=64M 2>"$T/err"
check "zufuse --mkfs over ext4: refused" bash -c "test -s '$T/err' && ! mountpoint -q '$MNT'"
"$MKFS" -n "$E" >"$T/out" 2>&1
check "mkfs.zufs -n over ext4: says it would not" grep -q "refusing\|ext4" "$T/out"
check "the ext4 image is byte-identical and the same size" \
	test "$(sha256sum <"$E")" = "$sum" -a "$(size_of "$E")" = "$size"
check "mkfs.zufs -F formats over ext4" "$MKFS" -q -F "$E"
check "... into a clean zufuse image" "$FSCK" -n "$E" >/dev/null

PT=$T/pt.img
python3 - "$PT" <<'EOF'
import struct, sys
mbr = bytearray(512)
mbr[446:462] = struct.pack('<B3sB3sII', 0, b'\0\0\0', 0x83, b'\0\0\0', 2048, 8192)
mbr[510:512] = b'\x55\xaa'
with open(sys.argv[1], 'wb') as f:
    f.write(mbr)
    f.truncate(32 << 20)
EOF
sum=$(sha256sum <"$PT")
"$MKFS" "$PT" 2>"$T/err"
check "mkfs.zufs over a partition table: refused" grep -q "partition table" "$T/err"
check "... byte-identical" test "$(sha256sum <"$PT")" = "$sum"

sum=$(sha256sum <"$IMG") size=$(size_of "$IMG")
"$MKFS" "$IMG" --size=512M 2>"$T/err"
check "mkfs.zufs over a zufuse image: refused" grep -q "holds a zufuse file system" "$T/err"
check "... not grown, byte-identical" \
	test "$(size_of "$IMG")" = "$size" -a "$(sha256sum <"$IMG")" = "$sum"

# --- block 0 wiped: fsck -y and mount restore it, files intact -----------
"$ZUFUSE" "$IMG" "$MNT" || bad "mount $IMG"
mkdir -p "$MNT/d" && head -c 300000 /dev/urandom >"$MNT/d/data" && cp "$MNT/d/data" "$T/data.ref"
umount "$MNT"
dd if=/dev/zero of="$IMG" bs=4096 count=1 conv=notrunc status=none
"$FSCK" -n "$IMG" >"$T/out" 2>&1
check "fsck -n on a wiped block 0: exit 4" test $? = 4
check "... names the copy it found" grep -q "copy in the last block is valid" "$T/out"
"$FSCK" -y "$IMG" >"$T/out" 2>&1
check "fsck -y restores it: exit 1" test $? = 1
check "fsck after the repair: clean" "$FSCK" -n "$IMG" >/dev/null
dd if=/dev/urandom of="$IMG" bs=4096 count=1 conv=notrunc status=none
"$ZUFUSE" "$IMG" "$MNT" 2>"$T/err"
check "mount restores a block 0 of junk, with a message" grep -q "restored" "$T/err"
check "... files intact" cmp -s "$MNT/d/data" "$T/data.ref"
umount "$MNT"
check "fsck after the mount's repair: clean" "$FSCK" -n "$IMG" >/dev/null

# --- --size grows the file system ---------------------------------------
"$ZUFUSE" "$IMG" "$MNT" || bad "mount $IMG"
before=$(df_blocks)
umount "$MNT"
"$ZUFUSE" "$IMG" "$MNT" -o size=256M 2>"$T/err"
check "-o size=256M: grown, saying so" grep -q "grown from" "$T/err"
after=$(df_blocks)
check "df: ~4x the blocks ($before -> $after)" test "$after" -gt $((before * 39 / 10))
check "... files intact" cmp -s "$MNT/d/data" "$T/data.ref"
check "the new space is usable (180 MiB file)" \
	dd if=/dev/zero of="$MNT/big" bs=1M count=180 status=none
# kill -9 right after the growth, files being written: the mount comes
# back grown, nothing lost that was synced.
sync "$MNT/big"
pid=$(pgrep -f "zufuse $IMG $MNT" | head -1)
kill -9 "$pid"
umount -l "$MNT" 2>/dev/null
"$ZUFUSE" "$IMG" "$MNT" 2>"$T/err" || bad "mount after kill -9: $(cat "$T/err")"
check "after kill -9: still the grown size" test "$(df_blocks)" = "$after"
check "... files intact" cmp -s "$MNT/d/data" "$T/data.ref"
check "... the synced 180 MiB file is there" test "$(size_of "$MNT/big")" = $((180 << 20))
umount "$MNT"
check "fsck after growth and kill -9: clean" "$FSCK" -n "$IMG" >/dev/null

size=$(size_of "$IMG") sum=$(sha256sum <"$IMG")
"$ZUFUSE" "$IMG" "$MNT" --size=128M 2>"$T/err"
check "a smaller --size is refused" grep -q "smaller than the image" "$T/err"
"$ZUFUSE" "$IMG" "$MNT" --size=64G 2>"$T/err"
check "a growth past the room mkfs left is refused" grep -q "cannot grow in place" "$T/err"
check "... neither changed the image" \
	test "$(size_of "$IMG")" = "$size" -a "$(sha256sum <"$IMG")" = "$sum"
check "... nor mounted" bash -c "! mountpoint -q '$MNT'"

echo "$fails failure(s)"
((fails == 0))
