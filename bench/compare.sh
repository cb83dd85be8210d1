#!/usr/bin/env bash
# bench/compare.sh - zufuse against the FUSE limit and its peers, in one run.
#
# Targets (each mounted once, fresh):
#   tmpfs        native, for scale (a directory in /dev/shm)
#   nullfs-st    build/bench/nullfs_ll -s: a FUSE file system that does
#                nothing (bench/nullfs_ll.c), libfuse's one-thread loop
#   nullfs-mt    the same with libfuse's multi-threaded loop
#   passthrough  libfuse's example passthrough_ll over a tmpfs directory
#                (built by meson from libfuse3-dev's examples when Debian
#                ships them; skipped otherwise)
#   zufuse-st    build/zufuse -s on a 1 GiB image in /dev/shm
#   zufuse-mt    build/zufuse --no-uring (libfuse's multi-threaded loop)
#   zufuse-uring build/zufuse --uring (the default transport), when the
#                kernel has FUSE io_uring
#   zufuse-disk  as zufuse-mt, on an image file in DISK_DIR (an ordinary
#                disk: the file back-end, persist_file.h); not in the
#                default TARGETS
#   zufuse-examplefs  the zus plugin examples/examplefs (--fs), formatted by
#                its mkfs, on the transport of zufuse-uring (zufuse-mt
#                without kernel io_uring); not in the default TARGETS
#   zufuse-plugin     any zus plugin: PLUGIN=/path/libNAME.so, formatted by
#                the shell command PLUGIN_MKFS (the image is $IMG, a 1 GiB
#                file), e.g. for toyfs
#                PLUGIN_MKFS='LD_LIBRARY_PATH=build ./mkfs.toyfs $(uuidgen) $IMG';
#                transport as zufuse-examplefs; not in the default TARGETS
#                (run them with zufuse-uring, or zufuse-mt, in TARGETS:
#                x_pmfs is a plugin's IOPS over pmfs's on that transport)
# Placements: "unpinned" (fio runs wherever the scheduler puts it) and
# "pinned" (fio under taskset -c $PIN_CPU).
# Jobs: every bench/jobs/NAME.fio (4K random read/write O_DIRECT, 4K
# O_DIRECT+O_DSYNC writes, 1M sequential O_DIRECT and buffered), each with
# numjobs 1, 2 and 4; and "meta": build/bench/meta_bench from one process
# (create, stat, rename, unlink of META_FILES files, mkdir and rmdir of
# META_DIRS), on every target but the nullfs ones (they have no
# directories). nullfs_ll opens everything with direct_io, so its
# "buffered" rows are direct too.
#
# Prints one table (IOPS or ops/s, MB/s, mean latency) with zufuse's ratio
# to nullfs_ll with the same loop and to passthrough_ll (and zufuse-disk's
# to zufuse-mt, x_shm), and writes, in
# bench/results/: compare-DATE.csv (the table), .txt (as printed), .md (the
# README's summary table), .svg (a chart of the table, drawn by gnuplot from
# .dat and .gp). Then, unless INPROC=0, the in-process benchmark
# (build/bench/inproc_bench: shim -> server without FUSE) as inproc-DATE.txt,
# and for each plugin target (--fs) as inproc-DATE-TARGET.txt.
#
# Environment (all optional):
#   QUICK=1              a smoke run (about 2 minutes): RUNTIME=1 SIZE=64M
#                        NUMJOBS_LIST=1, three fio jobs and meta,
#                        META_FILES=1000 META_DIRS=100, INPROC=0; any
#                        variable set explicitly still wins
#   RUNTIME=3            seconds per fio run (plus 0.5 s ramp)
#   SIZE=256M            file size per fio run
#   NUMJOBS_LIST="1 2 4" fio numjobs values
#   PLACEMENTS="unpinned pinned"
#   PIN_CPU=0            the CPU of the pinned placement
#   TARGETS="tmpfs nullfs-st nullfs-mt passthrough zufuse-st zufuse-mt zufuse-uring"
#   JOBS="randread-4k-direct ... meta"   bench/jobs/NAME.fio names, and meta
#   META_FILES=10000 META_DIRS=1000
#   ZUFUSE_OPTS="--direct-io"            extra zufuse options
#   BUILD=build          the meson build dir (zufuse, bench/nullfs_ll, ...)
#   INPROC=0             skip the in-process benchmark
#   DISK_DIR=/var/tmp    where zufuse-disk's image goes (not tmpfs)
#   PLUGIN=, PLUGIN_MKFS= zufuse-plugin's library and format command
#   INPROC_FILE_MB=256   the in-process benchmark's file of a plugin target
#   SCRATCH_PREFIX=/dev/shm/zufuse-bench  mount point, images, tmpfs
#                        and passthrough_ll's source go in a new
#                        directory PREFIX.XXXXXX (keep it on tmpfs)
# Needs root, /dev/fuse, fio, python3, gnuplot (for the .svg; the rest works
# without it) and a meson build (scripts/run.sh or ninja -C build). Numbers
# move between runs and machines: compare only within one run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
if [[ ${QUICK:-0} != 0 ]]; then
	RUNTIME=${RUNTIME:-1}
	SIZE=${SIZE:-64M}
	NUMJOBS_LIST=${NUMJOBS_LIST:-1}
	JOBS=${JOBS:-randread-4k-direct randwrite-4k-direct seqwrite-1m-direct meta}
	META_FILES=${META_FILES:-1000}
	META_DIRS=${META_DIRS:-100}
	INPROC=${INPROC:-0}
fi
RUNTIME=${RUNTIME:-3}
SIZE=${SIZE:-256M}
NUMJOBS_LIST=${NUMJOBS_LIST:-1 2 4}
PLACEMENTS=${PLACEMENTS:-unpinned pinned}
PIN_CPU=${PIN_CPU:-0}
META_FILES=${META_FILES:-10000}
META_DIRS=${META_DIRS:-1000}
URING_PARAM=/sys/module/fuse/parameters/enable_uring
DEFAULT_TARGETS="tmpfs nullfs-st nullfs-mt passthrough zufuse-st zufuse-mt"
[[ -e $URING_PARAM ]] && DEFAULT_TARGETS+=" zufuse-uring"
TARGETS=${TARGETS:-$DEFAULT_TARGETS}
JOBS=${JOBS:-randread-4k-direct randwrite-4k-direct randwrite-4k-direct-dsync seqread-1m-direct seqwrite-1m-direct seqread-1m-buffered seqwrite-1m-buffered meta}
NULLFS=$BUILD/bench/nullfs_ll
PASSTHROUGH=$BUILD/bench/passthrough_ll
META=$BUILD/bench/meta_bench
REPORT=$ROOT/bench/compare_report.py
RESULTS=$ROOT/bench/results
STAMP=$(date +%Y%m%d-%H%M%S)
PREFIX=$RESULTS/compare-$STAMP

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }

command -v fio >/dev/null || die "fio not found (apt-get install fio)"
command -v python3 >/dev/null || die "python3 not found (apt-get install python3)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
[[ -c /dev/fuse ]] || die "/dev/fuse missing"
EXAMPLEFS=$BUILD/examples/libexamplefs.so
MKFS_EXAMPLEFS=$BUILD/examples/mkfs.examplefs
PLUGIN_OPT=(--no-uring)
[[ -e $URING_PARAM ]] && PLUGIN_OPT=(--uring)
for t in $TARGETS; do
	case $t in
	zufuse-examplefs)
		[[ -x $MKFS_EXAMPLEFS && -f $EXAMPLEFS ]] ||
			die "$EXAMPLEFS or $MKFS_EXAMPLEFS not built (ninja -C build)" ;;
	zufuse-plugin)
		[[ -f ${PLUGIN:-} ]] || die "zufuse-plugin needs PLUGIN=/path/libNAME.so"
		[[ -n ${PLUGIN_MKFS:-} ]] ||
			die "zufuse-plugin needs PLUGIN_MKFS='a command formatting \$IMG'" ;;
	esac
done
for bin in "$BUILD/zufuse" "$NULLFS" "$META"; do
	[[ -x $bin ]] || die "$bin not built (scripts/run.sh, or: meson setup build && ninja -C build)"
done
[[ -x $PASSTHROUGH ]] || say "no $PASSTHROUGH (Debian's libfuse3-dev examples missing?): passthrough rows are skipped"
(( PIN_CPU < $(nproc) )) || die "PIN_CPU=$PIN_CPU: this machine has $(nproc) CPUs"
mkdir -p "$RESULTS"

# --- scratch and clean-up ------------------------------------------------
SCRATCH=$(mktemp -d "${SCRATCH_PREFIX:-/dev/shm/zufuse-bench}.XXXXXX")
MNT=$SCRATCH/mnt
mkdir -p "$MNT" "$SCRATCH/tmpfs" "$SCRATCH/ptsrc"
fs_pid=""

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
unmount_fs() { bench_unmount_fs 10; }

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
		bench_is_mounted "$MNT" && return 0
		kill -0 "$fs_pid" 2>/dev/null || break
		sleep 0.025
	done
	cat "$SCRATCH/fs.log" >&2
	die "mount failed: $*"
}

# Bytes of a fio SIZE such as 256M (the null file must hold it).
size_bytes() {
	local n=${1%[KkMmGg]} u=${1: -1}
	case $u in k | K) echo $((n << 10)) ;; m | M) echo $((n << 20)) ;;
	g | G) echo $((n << 30)) ;; *) echo "$1" ;; esac
}

# A zus plugin target's library, and a fresh 1 GiB image $2 its mkfs formatted.
plugin_lib() { if [[ $1 == zufuse-examplefs ]]; then echo "$EXAMPLEFS"; else echo "$PLUGIN"; fi; }
plugin_image() {
	rm -f "$2"
	truncate -s 1G "$2"
	if [[ $1 == zufuse-examplefs ]]; then
		"$MKFS_EXAMPLEFS" "$2" >"$SCRATCH/mkfs.log" 2>&1
	else
		IMG=$2 bash -c "$PLUGIN_MKFS" >"$SCRATCH/mkfs.log" 2>&1
	fi || { cat "$SCRATCH/mkfs.log" >&2; die "$1: mkfs failed"; }
}

# Mount target $1; FILE: the fio file, DIR: where meta_bench works ("" none).
mount_target() {
	DIR=$MNT
	FILE=$MNT/f
	case $1 in
	tmpfs)
		DIR=$SCRATCH/tmpfs
		FILE=$DIR/f ;;
	nullfs-st | nullfs-mt)
		local st=()
		[[ $1 == nullfs-st ]] && st=(-s)
		start_fs "$NULLFS" "$MNT" -f "${st[@]}" --direct-io \
			--size="$(size_bytes "$SIZE")"
		DIR="" ;;
	passthrough)
		start_fs "$PASSTHROUGH" -o "source=$SCRATCH/ptsrc" "$MNT" -f ;;
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
		fi ;;
	zufuse-examplefs | zufuse-plugin)
		local img=$SCRATCH/img.plugin
		plugin_image "$1" "$img"
		# shellcheck disable=SC2086
		start_fs "$BUILD/zufuse" "$MNT" --pmem="$img" --fs="$(plugin_lib "$1")" \
			-f "${PLUGIN_OPT[@]}" ${ZUFUSE_OPTS:-} ;;
	*) die "unknown target $1" ;;
	esac
}

clear_target() {
	case $1 in
	nullfs-*) ;;
	*) rm -f "$FILE" ;;
	esac
}

skip_target() {
	case $1 in passthrough) [[ ! -x $PASSTHROUGH ]] ;; *) false ;; esac
}

# --- runs -------------------------------------------------------------------
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
PLUGIN_NOTE=""
[[ " $TARGETS " != *" zufuse-plugin "* ]] || PLUGIN_NOTE=" PLUGIN=$PLUGIN"
RAW=$SCRATCH/raw.csv
: >"$RAW"
n_targets=0
for t in $TARGETS; do skip_target "$t" || n_targets=$((n_targets + 1)); done
n_fio=0 has_meta=0
for job in $JOBS; do
	if [[ $job == meta ]]; then has_meta=1; else n_fio=$((n_fio + 1)); fi
done
n_places=$(wc -w <<<"$PLACEMENTS")
total=$((n_targets * n_places * (n_fio * $(wc -w <<<"$NUMJOBS_LIST") + has_meta)))
say "$total runs, fio ${RUNTIME}s each (about $((total * (RUNTIME + 2) / 60 + 1)) min)"

i=0
for t in $TARGETS; do
	skip_target "$t" && continue
	mount_target "$t"
	for place in $PLACEMENTS; do
		pin=()
		[[ $place == pinned ]] && pin=(taskset -c "$PIN_CPU")
		for job in $JOBS; do
			if [[ $job == meta ]]; then
				i=$((i + 1))
				printf '[%3d/%d] %-12s %-9s %-28s\n' "$i" "$total" "$t" "$place" meta >&2
				if [[ -z $DIR ]]; then
					continue
				fi
				if ! "${pin[@]}" "$META" "$DIR" "$META_FILES" "$META_DIRS" \
					>"$SCRATCH/meta.out" 2>"$SCRATCH/meta.err"; then
					cat "$SCRATCH/meta.err" >&2
					say "meta_bench failed: $t $place"
					continue
				fi
				python3 "$REPORT" meta-rows <"$SCRATCH/meta.out" |
					while IFS=, read -r phase iops mb lat; do
						echo "$phase,$place,1,$t,$iops,$mb,$lat"
					done >>"$RAW"
				continue
			fi
			jobfile=$ROOT/bench/jobs/$job.fio
			[[ -f $jobfile ]] || die "no job file $jobfile"
			for nj in $NUMJOBS_LIST; do
				i=$((i + 1))
				printf '[%3d/%d] %-12s %-9s %-28s numjobs=%s\n' "$i" "$total" "$t" "$place" "$job" "$nj" >&2
				clear_target "$t"
				if ! FILENAME=$FILE SIZE=$SIZE RUNTIME=$RUNTIME NUMJOBS=$nj \
					"${pin[@]}" fio --output-format=json "$jobfile" \
					>"$SCRATCH/fio.json" 2>"$SCRATCH/fio.err"; then
					cat "$SCRATCH/fio.err" >&2
					say "fio failed: $t $place $job numjobs=$nj"
					echo "$job,$place,$nj,$t,,," >>"$RAW"
					continue
				fi
				row=$(python3 "$REPORT" fio-row <"$SCRATCH/fio.json") ||
					die "cannot read fio's JSON ($SCRATCH/fio.json)"
				echo "$job,$place,$nj,$t,$row" >>"$RAW"
			done
		done
	done
	clear_target "$t"
	unmount_fs
	if [[ -n $DISK_IMG_DIR ]]; then
		rm -rf "$DISK_IMG_DIR"
		DISK_IMG_DIR=""
	fi
done

# --- table, CSV, chart ----------------------------------------------------------
HEADER="# zufuse bench/compare.sh $STAMP: $(uname -r), $(nproc) CPUs, $(fio --version), zufuse $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), RUNTIME=${RUNTIME}s SIZE=$SIZE PIN_CPU=$PIN_CPU ZUFUSE_OPTS='${ZUFUSE_OPTS:-}'$PLUGIN_NOTE, load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
python3 "$REPORT" report "$RAW" "$HEADER" "$PREFIX"
cat "$PREFIX.txt"
say "CSV: $PREFIX.csv (README table: $PREFIX.md)"
if command -v gnuplot >/dev/null; then
	if (cd "$RESULTS" && gnuplot "$(basename "$PREFIX").gp"); then
		say "chart: $PREFIX.svg"
	else
		say "gnuplot failed: no chart"
	fi
else
	say "no gnuplot (apt-get install gnuplot-nox): no chart"
fi

# --- the in-process benchmark (shim -> server, no FUSE) -------------------------
INPROC_BIN=$BUILD/bench/inproc_bench
if [[ ${INPROC:-1} != 0 && -x $INPROC_BIN ]]; then
	say "in-process benchmark: $INPROC_BIN"
	out=$RESULTS/inproc-$STAMP.txt
	"$INPROC_BIN" --image="$SCRATCH/inproc.pmem" | tee "$out" ||
		say "in-process benchmark failed"
	rm -f "$SCRATCH/inproc.pmem"
	# The zus plugins among the targets, on images their mkfs formatted
	# (INPROC_FILE_MB: the benchmark file's size; default 256).
	for t in $TARGETS; do
		[[ $t == zufuse-examplefs || $t == zufuse-plugin ]] || continue
		say "in-process benchmark: $t ($(plugin_lib "$t"))"
		plugin_image "$t" "$SCRATCH/inproc.plugin"
		"$INPROC_BIN" --image="$SCRATCH/inproc.plugin" --fs="$(plugin_lib "$t")" \
			${INPROC_FILE_MB:+--file-mb=$INPROC_FILE_MB} | tee "$RESULTS/inproc-$STAMP-$t.txt" ||
			say "in-process benchmark of $t failed"
		rm -f "$SCRATCH/inproc.plugin"
	done
fi
