#!/usr/bin/env bash
# Run `molecule test` for the given scenarios, MOLECULE_JOBS at a time (default 2).
# Usage: scripts/molecule-all.sh SCENARIO...
#
# Scenarios spend most of their time waiting (docker exec round trips, package downloads,
# servers starting), so two at a time take little more than the longest lane. Each scenario's
# output goes to .cache/molecule/<scenario>.log; a failed scenario's log is printed in full.
# The longest scenarios start first, so that the lanes end together.
set -uo pipefail
cd "$(dirname "$0")/.."

jobs=${MOLECULE_JOBS:-2}
logs=.cache/molecule
mkdir -p "$logs"
[ $# -gt 0 ] || { echo "usage: $0 SCENARIO..." >&2; exit 2; }

# The network the scenarios share, created once here rather than by two create steps at once
# (same name and label as tests/playbooks/tasks/test_image.yml).
network=mlflow-provision-molecule
docker network inspect "$network" >/dev/null 2>&1 \
    || docker network create --label owner=mlflow-provision "$network" >/dev/null

# Longest first (measured durations), then the rest in the order given.
longest=(day2 cluster default azure_blob cli mlflow_auth mlflow_server nginx_tls mysql base)
ordered=()
for s in "${longest[@]}"; do
    for arg in "$@"; do [ "$arg" = "$s" ] && ordered+=("$s"); done
done
for arg in "$@"; do
    case " ${ordered[*]} " in *" $arg "*) ;; *) ordered+=("$arg") ;; esac
done

run_one() {
    local scenario=$1 log=".cache/molecule/$1.log" start rc
    start=$(date +%s)
    rm -f ".cache/molecule/$scenario.failed"
    echo "=== molecule test -s $scenario started"
    molecule test -s "$scenario" >"$log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "=== molecule test -s $scenario passed in $(( $(date +%s) - start )) s"
    else
        cat "$log"
        touch ".cache/molecule/$scenario.failed"
        echo "=== molecule test -s $scenario FAILED (rc=$rc) after $(( $(date +%s) - start )) s; log: $log"
    fi
    return $rc
}
export -f run_one

started=$(date +%s)
printf '%s\n' "${ordered[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {}
rc=$?
# What failed, once more at the very end: a CI report that shows only the tail still says why.
for s in "${ordered[@]}"; do
    [ -e "$logs/$s.failed" ] || continue
    echo "=== $s: what failed"
    sed 's/\x1b\[[0-9;]*m//g' "$logs/$s.log" \
        | grep -aE "fatal: \[|^[ │]*E +(Assertion|assert |[A-Za-z]+Error)|^[ │]*(FAILED|ERROR)\$|^[ │]*tests/.*::" \
        | cut -c1-240 | tail -30
done
echo "=== molecule: ${#ordered[@]} scenarios, $jobs at a time, $(( $(date +%s) - started )) s"
exit $(( rc == 0 ? 0 : 1 ))
