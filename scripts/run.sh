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

pmem=""
for a in "$@"; do
	case $a in --pmem=*) pmem=${a#--pmem=} ;; --pmem)
		zf_die "use --pmem=PATH (with '=')" ;; esac
done

zf_install_packages
zf_build
zf_check_fuse

extra=()
if [[ -z $pmem ]]; then
	pmem=$HOME/.local/share/zufuse/default.pmem
	mkdir -p "$(dirname "$pmem")"
	extra+=("--pmem=$pmem")
	# First run: create and format; afterwards mount it as it is.
	[[ -e $pmem ]] || extra+=(--size=1G)
fi

mkdir -p "$mnt"
mnt=$(cd "$mnt" && pwd -P)
pmem_abs=$(readlink -f "$pmem" || echo "$pmem")

# Already mounted here? In /proc/self/mountinfo field 5 is the mount point;
# after the " - " separator come the file system type and the source.
serves() { # serves PID: does zufuse PID serve $mnt from $pmem_abs?
	tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qxF -- "$mnt" || return 1
	{ ls -l "/proc/$1/fd" 2>/dev/null | grep -qF -- "-> $pmem_abs" ||
		grep -qF -- " $pmem_abs" "/proc/$1/maps" 2>/dev/null; }
}
line=$(awk -v m="$mnt" '$5 == m' /proc/self/mountinfo | tail -n1)
if [[ -n $line ]]; then
	type=$(sed 's/.* - //' <<<"$line" | cut -d' ' -f1)
	src=$(sed 's/.* - //' <<<"$line" | cut -d' ' -f2)
	if [[ $type == fuse* ]]; then
		for p in $(pgrep -x zufuse || true); do
			if serves "$p"; then
				zf_say "$mnt is already a zufuse mount of $pmem_abs (pid $p); nothing to do"
				exit 0
			fi
		done
	fi
	zf_die "$mnt is already a mount point ($type from $src); unmount it first (fusermount3 -u $mnt) or choose another"
fi

zf_say "mounting $pmem_abs on $mnt"
"$ZUFUSE_BUILD/zufuse" "$mnt" "${extra[@]}" "$@"
zf_say "mounted. Try: cp -a /usr/include $mnt/ && diff -r /usr/include $mnt/include"
zf_say "unmount with: fusermount3 -u $mnt"
