#!/usr/bin/env bash
# `make demo`: the full stack in a local systemd container, then the real MLflow client against it.
# Safe to repeat: the container, image, venvs and generated passwords are reused, and the second
# run of the playbook changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"

host=mlflow-demo
credentials=${XDG_CONFIG_HOME:-$HOME/.config}/mlflow-provision/credentials/$host
url=https://localhost:8443

# The container is test infrastructure (a playbook of the clone); the deploy is the product's
# own command, as a user runs it.
ansible-playbook -i inventories/local tests/playbooks/local_host.yml
mlflow-provision deploy -i inventories/local

# The self-signed certificate, the client's trust anchor, is kept in $credentials by role
# nginx_tls (with its key): a re-created container serves the same one.

cat <<INFO

MLflow is up: $url
  user:        mlflow
  password:    in $credentials/mlflow.password (0600; not printed)
  certificate: $credentials/server.crt (self-signed; trust it in your client)

  export MLFLOW_TRACKING_URI=$url MLFLOW_TRACKING_USERNAME=mlflow
  export MLFLOW_TRACKING_PASSWORD="\$(cat $credentials/mlflow.password)"
  export MLFLOW_TRACKING_SERVER_CERT_PATH=$credentials/server.crt

Smoke test with the real MLflow client:
INFO
scripts/smoke-test.sh "$url" mlflow "$credentials/mlflow.password" "$credentials/server.crt"

echo
echo "What runs where (mlflow-provision status -i inventories/local):"
mlflow-provision status --no-progress -i inventories/local
