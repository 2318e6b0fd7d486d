#!/usr/bin/env bash
# Run the paper-scale experiments of Part III on one GPU and store their results with provenance
# (README, "Paper scale on a GPU"). Usage, from the repository root:
#
#   scripts/paper.sh [DATA] [DEADLINE]
#
# DATA: cifar100 (default; downloaded by torchvision where online) or mnist1d (generated, no download).
# DEADLINE: seconds after which every experiment still running is stopped (default: none), for machines
# lent for a fixed time. `training` runs alone, so its wall time is its own; `degeneracy` and `depth_sweep`
# then run side by side. Results go to $SKIPLESSONS_RESULTS (default results/), each experiment's log to
# $LOGS/NAME.log (default: beside the results). SCALE=smoke tries the plumbing in seconds.
set -u
data=${1:-cifar100}
deadline=${2:-0}
out=${SKIPLESSONS_RESULTS:-results}
logs=${LOGS:-$out}
mkdir -p "$out" "$logs"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
start=$SECONDS

run() {   # run NAME: one experiment at paper scale, stopped at the deadline
    local cmd=("$py" -m skiplessons run "$1" --scale "${SCALE:-paper}" --data "$data" --force)
    if [ "$deadline" != 0 ]; then
        local left=$((deadline - (SECONDS - start)))
        if [ "$left" -le 0 ]; then echo "$1: not started, deadline passed"; return; fi
        cmd=(timeout -k 10 "$left" "${cmd[@]}")
    fi
    "${cmd[@]}" >"$logs/$1.log" 2>&1
    echo "$1: exit $? after $((SECONDS - start)) s"
}

echo "start $(date -u +%FT%TZ), data $data"
run training
run degeneracy &
run depth_sweep &
wait
