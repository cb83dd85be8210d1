#!/usr/bin/env bash
# bench/transport.sh - the FUSE transport's per-request cost, measured against
# its peers in the same run, REPS rounds, medians: a targeted bench for
# transport changes (bench/compare.sh is the whole table).
#
#   TARGETS="nullfs-mt zufuse-mt zufuse-uring" bench/transport.sh
#
# Targets:
#   nullfs-mt, nullfs-st  build/bench/nullfs_ll --direct-io, libfuse's
#                         multi-threaded / single-threaded loop
#   nullfs-uring          the same served by zufuse's io_uring transport
#                         (nullfs_ll --uring): the transport alone
#   zufuse-mt             build/zufuse --no-uring
#   zufuse-uring          build/zufuse (io_uring, the default transport)
#   zufuse-uring:LABEL    the same with the options in $OPTS_LABEL, the
#                         environment (VAR=VALUE ...) in $ENV_LABEL and the
#                         binary $BIN_LABEL (e.g. a build of another commit),
#                         each optional; zufuse-mt:LABEL, nullfs-uring:LABEL
#                         (options and environment) likewise
# Every round mounts each target once and runs, for each placement
# ("pinned": fio under taskset -c PIN_CPU; "unpinned") and each numjobs,
# bench/jobs/$JOB.fio for RUNTIME seconds. Rounds alternate targets so that
# a change of load hits them all alike.
#
# Prints a line per run (with the 1-minute load average before it) and a
# table: for each target, placement and numjobs the median IOPS, mean
# latency and fs_cpu (the file system process's CPU time per I/O, all its
# threads, in µs: what a request costs the server side, less sensitive to
# other load than IOPS) of the rounds, and the median of the rounds' ratios to $REF
# (default nullfs-mt) and to zufuse-mt when it ran. Saved as
# bench/results/transport-DATE.txt.
#
# Environment: TARGETS, JOB=randread-4k-direct, RUNTIME=5, SIZE=256M,
# NUMJOBS_LIST="1 2", PLACEMENTS="pinned unpinned", PIN_CPU=0, REPS=3,
# REF=nullfs-mt, BUILD=build, SCRATCH_PREFIX=/dev/shm/zufuse-transport
# (mount point and image go in a new directory PREFIX.XXXXXX).
# Needs root, /dev/fuse, fio, python3, taskset.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
TARGETS=${TARGETS:-nullfs-mt zufuse-mt zufuse-uring}
JOB=${JOB:-randread-4k-direct}
RUNTIME=${RUNTIME:-5}
SIZE=${SIZE:-256M}
NUMJOBS_LIST=${NUMJOBS_LIST:-1 2}
PLACEMENTS=${PLACEMENTS:-pinned unpinned}
PIN_CPU=${PIN_CPU:-0}
REPS=${REPS:-3}
REF=${REF:-nullfs-mt}
REPORT=$ROOT/bench/compare_report.py
JOBFILE=$ROOT/bench/jobs/$JOB.fio
RESULTS=$ROOT/bench/results
STAMP=$(date +%Y%m%d-%H%M%S)

die() { printf 'transport.sh: %s\n' "$*" >&2; exit 1; }
for t in fio python3 taskset; do command -v $t >/dev/null || die "$t not found"; done
[[ -f $JOBFILE ]] || die "no job file $JOBFILE"
[[ -x $BUILD/zufuse && -x $BUILD/bench/nullfs_ll ]] ||
	die "build/zufuse or build/bench/nullfs_ll not built (ninja -C build)"

SCRATCH=$(mktemp -d "${SCRATCH_PREFIX:-/dev/shm/zufuse-transport}.XXXXXX")
MNT=$SCRATCH/mnt
mkdir -p "$MNT"
fs_pid=""
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
unmount_fs() { bench_unmount_fs 10; }
cleanup() { unmount_fs; rm -rf "$SCRATCH"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Mount target $1 in the background; FILE is where fio works.
mount_target() {
	local t=$1 kind=${1%%:*} label="" bin=$BUILD/zufuse opts=() envs=()
	[[ $t == *:* ]] && label=${t#*:}
	if [[ -n $label ]]; then
		local o="OPTS_$label" e="ENV_$label" b="BIN_$label"
		# shellcheck disable=SC2206
		opts=(${!o:-})
		# shellcheck disable=SC2206
		envs=(${!e:-})
		bin=${!b:-$bin}
	fi
	FILE=$MNT/f
	case $kind in
	nullfs-mt) set -- "$BUILD/bench/nullfs_ll" "$MNT" -f --direct-io --size=1G ;;
	nullfs-st) set -- "$BUILD/bench/nullfs_ll" "$MNT" -f -s --direct-io --size=1G ;;
	nullfs-uring) set -- "$BUILD/bench/nullfs_ll" "$MNT" -f --uring --direct-io --size=1G "${opts[@]}" ;;
	zufuse-mt | zufuse-uring)
		rm -f "$SCRATCH/img.pmem"
		local tr=--uring
		[[ $kind == zufuse-mt ]] && tr=--no-uring
		set -- "$bin" "$MNT" --pmem="$SCRATCH/img.pmem" --size=1G -f "$tr" "${opts[@]}" ;;
	*) die "unknown target $t" ;;
	esac
	env "${envs[@]}" "$@" >"$SCRATCH/fs.log" 2>&1 &
	fs_pid=$!
	for _ in $(seq 400); do
		bench_is_mounted "$MNT" && break
		kill -0 "$fs_pid" 2>/dev/null || break
		sleep 0.025
	done
	bench_is_mounted "$MNT" || { cat "$SCRATCH/fs.log" >&2; die "mount failed: $t"; }
	if [[ $kind == *-uring ]] && grep -q "/dev/fuse" "$SCRATCH/fs.log"; then
		cat "$SCRATCH/fs.log" >&2
		die "$t fell back to /dev/fuse"
	fi
}

# CPU time (ns) of the file system process so far, all its threads.
fs_cpu_ns() {
	local sum=0 t v
	for t in /proc/"$fs_pid"/task/*/schedstat; do
		read -r v _ <"$t" 2>/dev/null || continue
		sum=$((sum + v))
	done
	echo "$sum"
}

RAW=$SCRATCH/raw.csv
: >"$RAW"
OUT=$RESULTS/transport-$STAMP.txt
mkdir -p "$RESULTS"
{
	echo "# bench/transport.sh $STAMP: $(uname -r), $(nproc) CPUs, $(fio --version)," \
		"zufuse $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')," \
		"JOB=$JOB RUNTIME=${RUNTIME}s SIZE=$SIZE REPS=$REPS PIN_CPU=$PIN_CPU"
	for t in $TARGETS; do
		[[ $t == *:* ]] || continue
		l=${t#*:} o="OPTS_$l" e="ENV_$l" b="BIN_$l"
		echo "# $t: options '${!o:-}' environment '${!e:-}' binary '${!b:-build/zufuse}'"
	done
} | tee "$OUT"
for rep in $(seq "$REPS"); do
	for t in $TARGETS; do
		mount_target "$t"
		for place in $PLACEMENTS; do
			pin=()
			[[ $place == pinned ]] && pin=(taskset -c "$PIN_CPU")
			for nj in $NUMJOBS_LIST; do
				load=$(cut -d' ' -f1 /proc/loadavg)
				[[ $t == nullfs-* ]] || rm -f "$FILE"
				if [[ $t != nullfs-* ]]; then # lay the file out first
					FILENAME=$FILE SIZE=$SIZE RUNTIME=$RUNTIME NUMJOBS=$nj \
						fio --create_only=1 "$JOBFILE" >/dev/null 2>&1 ||
						die "fio could not lay out $FILE"
				fi
				cpu0=$(fs_cpu_ns)
				if ! FILENAME=$FILE SIZE=$SIZE RUNTIME=$RUNTIME NUMJOBS=$nj \
					"${pin[@]}" fio --output-format=json "$JOBFILE" \
					>"$SCRATCH/fio.json" 2>"$SCRATCH/fio.err"; then
					cat "$SCRATCH/fio.err" >&2
					die "fio failed: $t $place numjobs=$nj"
				fi
				cpu1=$(fs_cpu_ns)
				row=$(python3 "$REPORT" fio-row <"$SCRATCH/fio.json")
				fs_us=$(python3 -c "import json,sys
d=json.load(open(sys.argv[1]))['jobs'][0]
# the I/Os of the ramp too (at the same rate): the CPU time covers it
n=(d['read']['iops']+d['write']['iops'])*(float(sys.argv[4])+0.5)
print('%.2f' % ((int(sys.argv[3]) - int(sys.argv[2])) / 1000 / n if n else 0))" \
					"$SCRATCH/fio.json" "$cpu0" "$cpu1" "$RUNTIME")
				echo "$rep,$t,$place,$nj,$load,$row,$fs_us" >>"$RAW"
				printf 'round %s %-22s %-8s nj=%s load %-5s iops,MB/s,lat_us %s fs_cpu_us %s\n' \
					"$rep" "$t" "$place" "$nj" "$load" "$row" "$fs_us" | tee -a "$OUT"
			done
		done
		unmount_fs
	done
done

REF=$REF python3 - "$RAW" <<'EOF' | tee -a "$OUT"
import csv, os, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
ref = os.environ["REF"]
iops, lat, loads = {}, {}, []
cpu = {}
for rep, t, place, nj, load, i, mb, l, c in rows:
    iops[(rep, t, place, nj)] = float(i)
    lat[(rep, t, place, nj)] = float(l)
    cpu[(rep, t, place, nj)] = float(c)
    loads.append(float(load))
reps = sorted({r[0] for r in rows})
cells = []
for r in rows:
    if r[1:4] not in cells:
        cells.append(r[1:4])
def ratio(t, place, nj, other):
    v = [iops[(r, t, place, nj)] / iops[(r, other, place, nj)]
         for r in reps if (r, other, place, nj) in iops and (r, t, place, nj) in iops]
    return "%.2f" % statistics.median(v) if v else ""
print("load average (1 min) before the runs: min %.2f median %.2f max %.2f"
      % (min(loads), statistics.median(loads), max(loads)))
print("%-24s %-8s %3s %9s %8s %7s %7s %7s   (medians of %d rounds)"
      % ("target", "place", "nj", "IOPS", "lat_us", "fs_cpu", "x_" + ref.split(":")[0][:6], "x_zmt", len(reps)))
for t, place, nj in sorted(cells, key=lambda c: (c[1], int(c[2]))):
    v = [iops[(r, t, place, nj)] for r in reps if (r, t, place, nj) in iops]
    l = [lat[(r, t, place, nj)] for r in reps if (r, t, place, nj) in lat]
    c = [cpu[(r, t, place, nj)] for r in reps if (r, t, place, nj) in cpu]
    print("%-24s %-8s %3s %9.0f %8.2f %7.2f %7s %7s" % (
        t, place, nj, statistics.median(v), statistics.median(l), statistics.median(c),
        ratio(t, place, nj, ref), ratio(t, place, nj, "zufuse-mt")))
EOF
echo "saved: $OUT" >&2
