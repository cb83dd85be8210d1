#!/usr/bin/env bash
# bench/compare.sh - zufuse against the FUSE limit and a FUSE peer, in one run.
#
# Runs every fio job in bench/jobs/ (numjobs 1 and 2) on:
#   tmpfs        native, for scale (a directory in /dev/shm)
#   nullfs-st    ../shared/bench/nullfs_ll.c, one-thread loop (-s), NULLFS_DIRECT=1
#   nullfs-mt    the same with libfuse's multi-threaded loop
#   passthrough  libfuse's example passthrough_ll over a tmpfs directory
#   zufuse-st    build/zufuse -s on an image in /dev/shm
#   zufuse-mt    build/zufuse --no-uring (libfuse's multi-threaded loop) on an image in /dev/shm
#   zufuse-uring build/zufuse --uring (FUSE over io_uring, one pinned ring
#                thread per CPU), when the kernel has FUSE io_uring
#                (/sys/module/fuse/parameters/enable_uring; as root zufuse
#                sets it to Y)
#   zufuse-disk  as zufuse-mt, on an image file in DISK_DIR (an ordinary
#                disk: the file back-end, persist_file.h); not in the
#                default TARGETS
# and prints one table (IOPS, MB/s, mean latency) with zufuse's ratio to
# nullfs_ll (same loop type) and to passthrough_ll, also written as CSV to
# bench/results/compare-DATE.csv (and the table as .txt). Then, if built,
# runs the in-process benchmark (build/bench/inproc_bench: shim -> server
# without FUSE) and saves its output next to it.
#
# Environment (all optional):
#   RUNTIME=3            seconds per fio run (plus 0.5 s ramp)
#   SIZE=256M            file size per run
#   NUMJOBS_LIST="1 2"   fio numjobs values
#   TARGETS="tmpfs nullfs-st nullfs-mt passthrough zufuse-st zufuse-mt zufuse-uring"
#   JOBS="randread-4k-direct ..."   job names (bench/jobs/NAME.fio)
#   ZUFUSE_OPTS="--direct-io"       extra zufuse options
#   BUILD=build          meson build dir holding zufuse
#   NULLFS_SRC=../shared/bench/nullfs_ll.c (relative to the repo root)
#   INPROC=0             skip the in-process benchmark
#   DISK_DIR=/var/tmp    where zufuse-disk's image goes (not tmpfs)
# Needs root, /dev/fuse, fio, a C compiler and libfuse3-dev. Numbers move
# between runs and machines: compare only within one run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
RUNTIME=${RUNTIME:-3}
SIZE=${SIZE:-256M}
NUMJOBS_LIST=${NUMJOBS_LIST:-1 2}
URING_PARAM=/sys/module/fuse/parameters/enable_uring
DEFAULT_TARGETS="tmpfs nullfs-st nullfs-mt passthrough zufuse-st zufuse-mt"
[[ -e $URING_PARAM ]] && DEFAULT_TARGETS+=" zufuse-uring"
TARGETS=${TARGETS:-$DEFAULT_TARGETS}
JOBS=${JOBS:-randread-4k-direct randwrite-4k-direct randwrite-4k-direct-dsync seqread-1m-direct seqwrite-1m-direct seqread-1m-buffered seqwrite-1m-buffered}
NULLFS_SRC=${NULLFS_SRC:-$ROOT/../shared/bench/nullfs_ll.c}
PT_SRC=/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c
TOOLS=$BUILD/bench-tmp
RESULTS=$ROOT/bench/results
STAMP=$(date +%Y%m%d-%H%M%S)
CSV=$RESULTS/compare-$STAMP.csv
TXT=$RESULTS/compare-$STAMP.txt

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }

command -v fio >/dev/null || die "fio not found (apt-get install fio)"
[[ -c /dev/fuse ]] || die "/dev/fuse missing"
[[ -x $BUILD/zufuse ]] || die "$BUILD/zufuse not built (scripts/run.sh or: meson setup build && ninja -C build)"

# --- peers, compiled fresh into build/bench-tmp (never committed) ---------
mkdir -p "$TOOLS" "$RESULTS"
FUSE_FLAGS=$(pkg-config --cflags --libs fuse3) || die "pkg-config fuse3 failed (libfuse3-dev)"
have_nullfs=0
if [[ -f $NULLFS_SRC ]]; then
	# shellcheck disable=SC2086
	cc -O2 -Wall -o "$TOOLS/nullfs_ll" "$NULLFS_SRC" $FUSE_FLAGS &&
		have_nullfs=1
else
	say "no $NULLFS_SRC: nullfs_ll rows and ratios are skipped"
fi
have_pt=0
pt_src=$PT_SRC
if [[ ! -f $pt_src && -f $pt_src.gz ]]; then
	zcat "$pt_src.gz" >"$TOOLS/passthrough_ll.c"
	pt_src=$TOOLS/passthrough_ll.c
fi
if [[ -f $pt_src ]]; then
	# shellcheck disable=SC2086
	cc -O2 -w -I"$(dirname "$PT_SRC")" -o "$TOOLS/passthrough_ll" "$pt_src" \
		$FUSE_FLAGS && have_pt=1
else
	say "no $PT_SRC: passthrough rows and ratios are skipped"
fi

# --- scratch and clean-up ------------------------------------------------
SCRATCH=$(mktemp -d /dev/shm/zufuse-bench.XXXXXX)
MNT=$SCRATCH/mnt
mkdir -p "$MNT" "$SCRATCH/tmpfs" "$SCRATCH/ptsrc"
fs_pid=""

is_mounted() { M=$1 awk '$5 == ENVIRON["M"] { f = 1 } END { exit !f }' /proc/self/mountinfo; }

unmount_fs() {
	if is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" || true
	fi
	if [[ -n $fs_pid ]]; then
		for _ in $(seq 200); do
			kill -0 "$fs_pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$fs_pid" 2>/dev/null || true
		wait "$fs_pid" 2>/dev/null || true
		fs_pid=""
	fi
}

DISK_IMG_DIR=""
cleanup() {
	unmount_fs
	rm -rf "$SCRATCH"
	[[ -z $DISK_IMG_DIR ]] || rm -rf "$DISK_IMG_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Start "$@" in the background (foreground mode) and wait for the mount.
start_fs() {
	"$@" >"$SCRATCH/fs.log" 2>&1 &
	fs_pid=$!
	for _ in $(seq 400); do
		is_mounted "$MNT" && return 0
		kill -0 "$fs_pid" 2>/dev/null || break
		sleep 0.025
	done
	cat "$SCRATCH/fs.log" >&2
	die "mount failed: $*"
}

mount_target() {
	case $1 in
	tmpfs) FILE=$SCRATCH/tmpfs/f ;;
	nullfs-st)
		NULLFS_DIRECT=1 start_fs "$TOOLS/nullfs_ll" "$MNT" -f -s
		FILE=$MNT/f ;;
	nullfs-mt)
		NULLFS_DIRECT=1 start_fs "$TOOLS/nullfs_ll" "$MNT" -f
		FILE=$MNT/f ;;
	passthrough)
		start_fs "$TOOLS/passthrough_ll" -o "source=$SCRATCH/ptsrc" "$MNT" -f
		FILE=$MNT/f ;;
	zufuse-st | zufuse-mt | zufuse-uring | zufuse-disk)
		local img=$SCRATCH/img.pmem
		if [[ $1 == zufuse-disk ]]; then
			DISK_IMG_DIR=$(mktemp -d "${DISK_DIR:-/var/tmp}/zufuse-bench.XXXXXX")
			img=$DISK_IMG_DIR/img.pmem
		fi
		rm -f "$img"
		local st=()
		[[ $1 == zufuse-st ]] && st=(-s)
		[[ $1 == zufuse-mt || $1 == zufuse-disk ]] && st=(--no-uring)
		[[ $1 == zufuse-uring ]] && st=(--uring)
		# shellcheck disable=SC2086
		start_fs "$BUILD/zufuse" "$MNT" --pmem="$img" \
			--size=1G -f "${st[@]}" ${ZUFUSE_OPTS:-}
		# Without kernel support zufuse says so and serves /dev/fuse.
		if [[ $1 == zufuse-uring ]] && grep -q "/dev/fuse" "$SCRATCH/fs.log"; then
			cat "$SCRATCH/fs.log" >&2
			say "zufuse-uring fell back to /dev/fuse: its rows are zufuse-mt"
		fi
		FILE=$MNT/f ;;
	*) die "unknown target $1" ;;
	esac
}

clear_target() {
	case $1 in
	tmpfs) rm -f "$SCRATCH/tmpfs/f" ;;
	nullfs-*) ;;
	*) rm -f "$MNT/f" ;;
	esac
}

# --- runs -------------------------------------------------------------------
RAW=$SCRATCH/raw.csv
: >"$RAW"
n_runs=0
for t in $TARGETS; do
	case $t in nullfs-*) ((have_nullfs)) || continue ;; passthrough) ((have_pt)) || continue ;; esac
	n_runs=$((n_runs + 1))
done
total=$((n_runs * $(wc -w <<<"$JOBS") * $(wc -w <<<"$NUMJOBS_LIST")))
say "$total fio runs of ${RUNTIME}s (about $((total * (RUNTIME + 2) / 60 + 1)) min)"

i=0
for t in $TARGETS; do
	case $t in nullfs-*) ((have_nullfs)) || continue ;; passthrough) ((have_pt)) || continue ;; esac
	mount_target "$t"
	for job in $JOBS; do
		jobfile=$ROOT/bench/jobs/$job.fio
		[[ -f $jobfile ]] || die "no job file $jobfile"
		for nj in $NUMJOBS_LIST; do
			i=$((i + 1))
			printf '[%3d/%d] %-12s %-28s numjobs=%s\n' "$i" "$total" "$t" "$job" "$nj" >&2
			clear_target "$t"
			out=$(FILENAME=$FILE SIZE=$SIZE RUNTIME=$RUNTIME NUMJOBS=$nj \
				fio --output-format=terse "$jobfile" 2>"$SCRATCH/fio.err") || {
				cat "$SCRATCH/fio.err" >&2
				say "fio failed: $t $job numjobs=$nj"
				echo "$job,$nj,$t,,," >>"$RAW"
				continue
			}
			# terse v3: read iops $8, bw KiB/s $7, lat mean us $40;
			# write iops $49, bw $48, lat mean $81.
			tail -n1 <<<"$out" | awk -F';' -v job="$job" -v nj="$nj" -v t="$t" '{
				iops = $8 + $49; bw = $7 + $48
				lat = ($8 > 0 && $49 > 0) ? ($40 + $81) / 2 : ($8 > 0 ? $40 : $81)
				printf "%s,%s,%s,%.0f,%.1f,%.2f\n", job, nj, t, iops, bw * 1024 / 1e6, lat
			}' >>"$RAW"
		done
	done
	clear_target "$t"
	unmount_fs
	if [[ -n $DISK_IMG_DIR ]]; then
		rm -rf "$DISK_IMG_DIR"
		DISK_IMG_DIR=""
	fi
done

# --- table and CSV ------------------------------------------------------------
{
	echo "# zufuse bench/compare.sh $STAMP: $(uname -r), $(nproc) CPUs, $(fio --version)," \
		"zufuse $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')," \
		"RUNTIME=${RUNTIME}s SIZE=$SIZE ZUFUSE_OPTS='${ZUFUSE_OPTS:-}'"
	echo "job,numjobs,target,iops,mb_s,lat_us,x_nullfs,x_passthrough,x_shm"
	# Rows grouped by job (in JOBS order) and numjobs, targets in run order.
	awk -F, -v jobs="$JOBS" '
	BEGIN { nj = split(jobs, j, " "); for (i = 1; i <= nj; i++) order[j[i]] = i }
	{ key = $1 "," $2; iops[key "," $3] = $4; rows[++n] = $0 }
	END {
		for (r = 1; r <= n; r++) {
			split(rows[r], f, ",")
			key = f[1] "," f[2]; xn = ""; xp = ""; xd = ""
			if (f[3] ~ /^zufuse/ && f[4] != "") {
				ref = (f[3] == "zufuse-st") ? "nullfs-st" : "nullfs-mt"
				if (f[3] == "zufuse-disk" && iops[key ",zufuse-mt"] > 0) xd = sprintf("%.2f", f[4] / iops[key ",zufuse-mt"])
				if (iops[key "," ref] > 0) xn = sprintf("%.2f", f[4] / iops[key "," ref])
				if (iops[key ",passthrough"] > 0) xp = sprintf("%.2f", f[4] / iops[key ",passthrough"])
			}
			printf "%04d,%04d,%04d,%s,%s,%s,%s\n", order[f[1]], f[2], r, rows[r], xn, xp, xd
		}
	}' "$RAW" | sort | cut -d, -f4-
} >"$CSV"

{
	head -n1 "$CSV"
	echo "(x_nullfs: zufuse IOPS / nullfs_ll IOPS with the same loop type, nullfs-mt for zufuse-uring; x_passthrough: / passthrough_ll; x_shm: zufuse-disk / zufuse-mt)"
	tail -n +2 "$CSV" | awk -F, '
	NR == 1 { printf "%-28s %3s %-12s %10s %9s %10s %9s %9s %7s\n", "job", "nj", "target", "IOPS", "MB/s", "lat_us", "x_nullfs", "x_pt", "x_shm"; next }
	{
		if (prev != "" && prev != $1 "," $2) print ""
		prev = $1 "," $2
		printf "%-28s %3s %-12s %10s %9s %10s %9s %9s %7s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9
	}'
} | tee "$TXT"
say "CSV: $CSV"

# --- hook: the in-process benchmark (shim -> server, no FUSE) -----------------
INPROC_BIN=$BUILD/bench/inproc_bench
if [[ ${INPROC:-1} != 0 && -x $INPROC_BIN ]]; then
	say "in-process benchmark: $INPROC_BIN"
	out=$RESULTS/inproc-$STAMP.txt
	"$INPROC_BIN" --image="$SCRATCH/inproc.pmem" | tee "$out" ||
		say "in-process benchmark failed"
	rm -f "$SCRATCH/inproc.pmem"
fi
