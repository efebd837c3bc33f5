#!/usr/bin/env bash
# Run a benchmark suite as N shard processes on one machine (e.g. a GPU box), then write
# the tables once. Every finished run is kept in OUT/runs/, so the script can be stopped and
# started again (it skips finished runs), also on another machine with the same OUT folder.
#
#   scripts/parallel_benchmark.sh SUITE OUT [N] [SECONDS] -- [benchmark options...]
#
#   N        shard processes (default: number of CPU cores)
#   SECONDS  wall-clock budget; shards are interrupted when it runs out (default: none)
#
# Example (GPU, the paper protocol, neural models only, 12 processes, 8 minutes):
#   scripts/parallel_benchmark.sh table1 results/table1-paper 12 480 -- --profile paper \
#       --device cuda --threads 1 --models cnn_concat transformer pa_ib
# One GPU shared by many processes is time-sliced: throughput stops growing at about the
# point where the GPU reports 100 % utilisation (here 12-15 small models on one H200).
set -uo pipefail
if [ $# -lt 2 ]; then
    sed -n '2,16p' "$0" >&2
    exit 2
fi
suite=$1 out=$2
shift 2
n=$(getconf _NPROCESSORS_ONLN)
budget=0
if [ $# -gt 0 ] && [ "$1" != "--" ]; then n=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" != "--" ]; then budget=$1; shift; fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
python=${PYTHON:-python3}
mkdir -p "$out/logs"
start=$SECONDS
pids=()
for i in $(seq 1 "$n"); do
    if [ "$budget" -gt 0 ]; then
        timeout --signal=INT --kill-after=15 "$budget" \
            "$python" -m mspectmol -q benchmark --suite "$suite" --out "$out" \
            --shard "$i/$n" "$@" >"$out/logs/shard$i.log" 2>&1 &
    else
        "$python" -m mspectmol -q benchmark --suite "$suite" --out "$out" --shard "$i/$n" \
            "$@" >"$out/logs/shard$i.log" 2>&1 &
    fi
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
echo "shards done after $((SECONDS - start)) s; $(ls "$out/runs" 2>/dev/null | wc -l) runs in $out/runs"
"$python" -m mspectmol -q benchmark --suite "$suite" --out "$out" --tables-only "$@"
