#!/usr/bin/env bash
# `make demo-cluster`: two MLflow hosts serving one MLflow behind a load balancer (HAProxy in TCP
# mode with HTTP checks, as Azure's Standard Load Balancer), on PostgreSQL with TLS and Azurite,
# all in local systemd containers; then the real MLflow client through the balancer.
# Safe to repeat: containers, generated passwords and the certificate are reused, and the second
# run of the deploy changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"

inventory=inventories/local-cluster
credentials=${XDG_CONFIG_HOME:-$HOME/.config}/mlflow-provision/credentials/mlflow-cluster
url=https://localhost:8444

# The containers and the cloud's stand-ins are test infrastructure (a playbook of the clone);
# the deploy is the product's own command, as a user runs it.
ansible-playbook -i "$inventory" tests/playbooks/demo_cluster.yml
mlflow-provision deploy -i "$inventory"

cat <<INFO

MLflow is up behind the balancer: $url (hosts mlflow-cluster-1 and mlflow-cluster-2)
  user:        mlflow
  password:    in $credentials/mlflow.password (0600; not printed)
  certificate: $credentials/server.crt (self-signed, the same on both hosts; trust it in your client)

  export MLFLOW_TRACKING_URI=$url MLFLOW_TRACKING_USERNAME=mlflow
  export MLFLOW_TRACKING_PASSWORD="\$(cat $credentials/mlflow.password)"
  export MLFLOW_TRACKING_SERVER_CERT_PATH=$credentials/server.crt

  Restart host by host, out of the balancer and back: mlflow-provision restart -i $inventory
  The balancer's view of the hosts:  docker exec mlflow-cluster-services curl -s 127.0.0.1:8404/stats\;csv

Smoke test with the real MLflow client:
INFO
scripts/smoke-test.sh "$url" mlflow "$credentials/mlflow.password" "$credentials/server.crt"

echo
echo "What runs where, and which hosts the balancer would use (mlflow-provision status -i $inventory):"
mlflow-provision status --no-progress -i "$inventory"
