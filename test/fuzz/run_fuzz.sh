#!/usr/bin/env bash
# test/fuzz/run_fuzz.sh EXE SEEDS WORKDIR RUNS|SECONDSs [libFuzzer flags...]
# Runs one libFuzzer target (built by test/fuzz/meson.build) for RUNS
# inputs or SECONDS seconds. New inputs go to WORKDIR/corpus (the checked-in
# SEEDS are read, never written), crashes to WORKDIR/artifacts/. Prints the
# runs and executions per second; exits non-zero on a crash.
set -euo pipefail
(($# >= 4)) || { echo "usage: $0 EXE SEEDS WORKDIR RUNS|SECONDSs [flags]" >&2; exit 2; }
exe=$1 seeds=$2 work=$3 arg=$4
shift 4
case $arg in
*s) [[ ${arg%s} =~ ^[0-9]+$ ]] || { echo "bad duration: $arg" >&2; exit 2; }
    limit=-max_total_time=${arg%s} ;;
*)  [[ $arg =~ ^[0-9]+$ ]] || { echo "bad run count: $arg" >&2; exit 2; }
    limit=-runs=$arg ;;
esac
name=$(basename "$exe")
mkdir -p "$work/corpus" "$work/artifacts"
log=$work/last-run.log
start=$(date +%s.%N)
rc=0
"$exe" "$limit" -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
	"$@" "$work/corpus" "$seeds" >"$log" 2>&1 || rc=$?
end=$(date +%s.%N)
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
if ((rc != 0)) || [[ -z $runs ]]; then
	# The targets' own refusals ("zufuse: ...") are expected noise.
	grep -v '^zufuse: ' "$log" | tail -60 >&2
	echo "error: $name failed (exit $rc); log: $log; crash inputs: $work/artifacts/" >&2
	exit 1
fi
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
eps=$(awk -v r="$runs" -v s="$secs" 'BEGIN { printf "%d", (s > 0 ? r / s : r) }')
echo "$name: $runs runs in $secs s ($eps exec/s), corpus $(ls "$work/corpus" | wc -l) new inputs, no crash"
