#!/usr/bin/env bash
# Run every registered experiment at paper scale on one GPU and store each result with its provenance as it
# finishes (README, "Paper scale on a GPU"). Usage, from the repository root:
#
#   scripts/paper.sh [DATA] [DEADLINE] [NAME ...]
#
# DATA: cifar100 (default; downloaded by torchvision where online) or mnist1d (generated, no download).
# DEADLINE: seconds after which every experiment still running is stopped (default: none), for machines
# lent for a fixed time. The most valuable run first: `training` alone, so that its wall time is its own; then
# the others two at a time in the order of ORDER (Part III's measurements, Part IV's controls, the rest), and
# any registered experiment ORDER does not name after them, so that a deadline cuts the least valuable. Results
# go to $SKIPLESSONS_RESULTS (default results/), each experiment's log to $LOGS/NAME.log (default: beside the
# results). SCALE=smoke tries the plumbing in seconds.
set -u
data=${1:-cifar100}
deadline=${2:-0}
shift $(($# < 2 ? $# : 2))
names=("$@")
jobs=${JOBS:-2}
out=${SKIPLESSONS_RESULTS:-results}
logs=${LOGS:-$out}
mkdir -p "$out" "$logs"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
start=$SECONDS

# the experiments that train on CIFAR at paper scale take DATA; the others (digits, Part I's counts) keep theirs
with_data=$("$py" -c "from skiplessons.experiments import registry
print(' '.join(n for n, e in registry().items() if getattr(e.configs['paper'], 'data', None) == 'cifar100'))")

run() {   # run NAME: one experiment at paper scale, stopped at the deadline
    local cmd=("$py" -m skiplessons run "$1" --scale "${SCALE:-paper}" --force)
    [[ " $with_data " == *" $1 "* ]] && cmd+=(--data "$data")
    if [ "$deadline" != 0 ]; then
        local left=$((deadline - (SECONDS - start)))
        if [ "$left" -le 0 ]; then echo "$1: not started, deadline passed"; return; fi
        cmd=(timeout -k 10 "$left" "${cmd[@]}")
    fi
    "${cmd[@]}" >"$logs/$1.log" 2>&1
    echo "$1: exit $? after $((SECONDS - start)) s"
}

ORDER=(degeneracy init_controls malicious_wide depth_sweep remedies skip_strength training_digits)
registered=$("$py" -m skiplessons list | awk 'NF == 0 {exit} {print $1}' | tr '\n' ' ')
rest=()
for name in $registered; do
    [[ " training ${ORDER[*]} " == *" $name "* ]] || rest+=("$name")
done

echo "start $(date -u +%FT%TZ), data $data"
queue=()
if [ ${#names[@]} -gt 0 ]; then
    for name in "${names[@]}"; do
        [[ " $registered " == *" $name "* ]] || { echo "no experiment named $name; registered: $registered"; exit 2; }
        queue+=("$name")
    done
else
    run training
    for name in "${ORDER[@]}" "${rest[@]}"; do
        [[ " $registered " == *" $name "* ]] && queue+=("$name")
    done
fi
for ((i = 0; i < ${#queue[@]}; i += jobs)); do
    for name in "${queue[@]:i:jobs}"; do run "$name" & done
    wait
done
