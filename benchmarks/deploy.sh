#!/usr/bin/env bash
# Deploy figures of the full stack on a local systemd container (the `make demo` host):
#   - cold deploy: a fresh container -> healthy HTTPS, in seconds, split by role, and the smoke
#     test with the real MLflow client;
#   - idempotent re-run: seconds and changed count;
#   - server ready time after `systemctl restart mlflow` (until /health answers), best of 3.
# It REMOVES and recreates the demo container `mlflow-demo` (its data goes with it).
# Needs `make setup images`. Usage: benchmarks/deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" ANSIBLE_NOCOLOR=1
host=mlflow-demo
credentials=${XDG_CONFIG_HOME:-$HOME/.config}/mlflow-provision/credentials/$host
log=$(mktemp -d)
ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }
trap 'rm -rf "$log"' EXIT

docker rm -f "$host" >/dev/null 2>&1 || true
ansible-playbook -i inventories/local playbooks/local_host.yml >"$log/host.txt"

start=$(ms)
ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_roles \
    ansible-playbook -i inventories/local site.yml >"$log/cold.txt"
echo "cold deploy (fresh container -> healthy HTTPS): $(secs $(($(ms) - start))) s"
# profile_roles prints "<role> ---- 12.34s" lines at the end.
grep -E '^(base|mysql|mlflow_server|nginx_tls|gather_facts) -+ [0-9.]+s$' "$log/cold.txt" \
    | sed -E 's/^(\S+) -+ ([0-9.]+)s$/  \1: \2 s/'

docker cp -q "$host:/etc/ssl/certs/mlflow-provision.crt" "$credentials/server.crt"
start=$(ms)
scripts/smoke-test.sh https://localhost:8443 mlflow "$credentials/mlflow.password" "$credentials/server.crt" \
    >"$log/smoke.txt"
echo "smoke test (MLflow client): $(secs $(($(ms) - start))) s, $(grep -o '"result": "[a-z]*"' "$log/smoke.txt")"

start=$(ms)
ansible-playbook -i inventories/local site.yml >"$log/rerun.txt"
echo "idempotent re-run: $(secs $(($(ms) - start))) s, $(grep -oE "$host +: .*" "$log/rerun.txt" | grep -oE 'changed=[0-9]+')"

best=
for _ in 1 2 3; do
    t=$(docker exec "$host" bash -c 'start=$(($(date +%s%N) / 1000000)); systemctl restart mlflow
        until curl -sf -o /dev/null http://127.0.0.1:5000/health; do sleep 0.1; done
        echo $(($(date +%s%N) / 1000000 - start))')
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
done
echo "ready after systemctl restart mlflow: $(secs "$best") s (best of 3)"
