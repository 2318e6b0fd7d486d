#!/usr/bin/env bash
# Run every registered experiment at paper scale on one GPU and store each result with its provenance as it
# finishes (README, "Paper scale on a GPU"). Usage, from the repository root:
#
#   scripts/paper.sh [DATA] [DEADLINE] [NAME ...]
#
# DATA: mnist1d (default: the registered paper configs, on 100,000 generated MNIST-1D examples, no download) or
# cifar100 (their CIFAR-100 configuration, `--data cifar100`, a separate result; downloaded by torchvision where
# online).
# DEADLINE: seconds after which every experiment still running is stopped (default: none), for machines
# lent for a fixed time. The most valuable run first: `training` alone, so that its wall time is its own; then
# the others two at a time in the order of ORDER (Part III's measurements, Part IV's controls, the rest), and
# any registered experiment ORDER does not name after them, so that a deadline cuts the least valuable. Results
# go to $SKIPLESSONS_RESULTS (default results/), each experiment's log to $LOGS/NAME.log (default: beside the
# results). SCALE=smoke tries the plumbing in seconds.
set -u
data=${1:-mnist1d}
case "$data" in
    mnist1d | cifar100) ;;
    *) echo "DATA=$data: choose mnist1d (the paper configs) or cifar100 (their CIFAR-100 configuration)"; exit 2 ;;
esac
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

# the experiments whose paper config trains on the paper's data (configs.PAPER_DATA) have a CIFAR-100
# configuration; the others (digits, small MNIST-1D sets, Part I's counts) keep theirs
with_data=$("$py" -c "from skiplessons.experiments import registry
from skiplessons.experiments.configs import takes_paper_data
print(' '.join(n for n, e in registry().items() if takes_paper_data(e.configs['paper'])))")

run() {   # run NAME: one experiment at paper scale, stopped at the deadline
    local cmd=("$py" -m skiplessons run "$1" --scale "${SCALE:-paper}" --force)
    [[ $data == cifar100 && " $with_data " == *" $1 "* ]] && cmd+=(--data cifar100)
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
