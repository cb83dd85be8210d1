#!/usr/bin/env bash
# scripts/run.sh MOUNTPOINT [zufuse options]
#
# Installs missing Debian packages, builds zufuse into build/, and mounts it
# on MOUNTPOINT (created if missing). Without --pmem it uses a default image,
# ~/.local/share/zufuse/default.pmem (1 GiB, created and formatted on first
# use, mounted as is afterwards). Running it again on the same mount point and
# image is a no-op. Unmount with: fusermount3 -u MOUNTPOINT
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<USAGE
usage: scripts/run.sh MOUNTPOINT [zufuse options]
  e.g. scripts/run.sh /mnt/x
       scripts/run.sh /mnt/x --pmem=/dev/shm/zufuse.pmem --size=4G
Without --pmem: $HOME/.local/share/zufuse/default.pmem (1 GiB).
zufuse options: see 'build/zufuse --help' (or README.md).
USAGE
}

[[ $# -ge 1 ]] || { usage >&2; exit 2; }
case $1 in -h | --help) usage; exit 0 ;; -*) usage >&2; exit 2 ;; esac
mnt=$1
shift

# Forward every option, with --pmem made absolute: zufuse names the image
# as the mount's source (fsname), which is how a second run recognizes it.
pmem=""
have_size=0
args=()
for a in "$@"; do
	case $a in
	--size=*) have_size=1 ;;
	--pmem=*)
		pmem=${a#--pmem=}
		[[ -n $pmem ]] || zf_die "--pmem= needs a path"
		[[ $pmem == /* ]] || pmem=$PWD/$pmem
		a=--pmem=$pmem
		;;
	--pmem) zf_die "use --pmem=PATH (with '=')" ;;
	esac
	args+=("$a")
done

zf_install_packages
zf_build zufuse # only what mounting needs
zf_check_fuse

extra=()
if [[ -z $pmem ]]; then
	pmem=$HOME/.local/share/zufuse/default.pmem
	mkdir -p "$(dirname "$pmem")"
	extra+=("--pmem=$pmem")
	# First run: create and format; afterwards mount it as it is.
	[[ -e $pmem ]] || ((have_size)) || extra+=(--size=1G)
fi

mnt=$(realpath -m -- "$mnt")

# Already mounted here? zufuse mounts as type fuse.zufuse with the image
# path as source. (findmnt reads the mount table; it does not stat the
# mount point, which a dead FUSE mount would answer with ENOTCONN.)
type=$(findmnt -n -o FSTYPE --mountpoint "$mnt" | tail -n1 || true)
# (opendir, not stat: stat can be answered from the kernel's attribute cache)
if [[ $type == fuse.zufuse ]] && ! timeout 10 ls -- "$mnt" >/dev/null 2>&1; then
	# A mount whose daemon died (kill -9, crash): clear it, mount again.
	zf_say "$mnt is a dead mount (its zufuse is gone); cleaning it up"
	fusermount3 -u -- "$mnt" 2>/dev/null || umount -l -- "$mnt" ||
		zf_die "cannot unmount the dead mount $mnt"
	type=""
fi
if [[ -n $type ]]; then
	src=$(findmnt -n -o SOURCE --mountpoint "$mnt" | tail -n1)
	if [[ $type == fuse.zufuse ]]; then
		if [[ $src -ef $pmem || $src == "$pmem" ]]; then
			zf_say "$mnt is already a zufuse mount of $pmem; nothing to do"
			exit 0
		fi
		zf_die "$mnt is already a zufuse mount of another image ($src); unmount it first: fusermount3 -u $mnt"
	fi
	zf_die "$mnt is already a mount point ($type from $src); unmount it first or choose another"
fi

mkdir -p -- "$mnt"
zf_say "mounting $pmem on $mnt"
"$ZUFUSE_BUILD/zufuse" "$mnt" "${extra[@]}" "${args[@]}"
q=$(printf %q "$mnt")
zf_say "mounted. Try: cp -a /usr/include $q/ && diff -r --no-dereference /usr/include $q/include"
zf_say "unmount with: fusermount3 -u $q"
