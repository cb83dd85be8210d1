# shellcheck shell=bash
# bench/lib.sh - sourced by the bench scripts: the mount point's life.
# Each script sets MNT (its mount point) and fs_pid (the file system
# process it started in the background, or "").

# bench_is_mounted DIR: true while DIR is a mount point.
bench_is_mounted() { M=$1 awk '$5 == ENVIRON["M"] { f = 1 } END { exit !f }' /proc/self/mountinfo; }

# bench_unmount_fs [GRACE]: unmount $MNT and reap $fs_pid. With GRACE (in
# seconds), a process still running GRACE s after the unmount is killed;
# without it, it is waited for (a disk image's last commit may take long).
bench_unmount_fs() {
	if bench_is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" || true
	fi
	if [[ -n $fs_pid ]]; then
		if [[ -n ${1:-} ]]; then
			for _ in $(seq $(($1 * 20))); do
				kill -0 "$fs_pid" 2>/dev/null || break
				sleep 0.05
			done
			kill -9 "$fs_pid" 2>/dev/null || true
		fi
		wait "$fs_pid" 2>/dev/null || true
		fs_pid=""
	fi
}
