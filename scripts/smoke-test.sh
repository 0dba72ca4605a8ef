#!/usr/bin/env bash
# Run scripts/smoke_test.py with the real MLflow client against a deployed server.
# Usage: scripts/smoke-test.sh URL USER PASSWORD_FILE [CA_FILE]
# The client lives in its own venv (.cache/mlflow-client, built once with uv, same MLflow
# version as the server); the password is read from the file, never passed on a command line.
set -euo pipefail
cd "$(dirname "$0")/.."

url=${1:?usage: smoke-test.sh URL USER PASSWORD_FILE [CA_FILE]}
user=${2:?user}
password_file=${3:?password file}
ca_file=${4:-}
version=$(sed -n 's/^mlflow_server_version: "\(.*\)"$/\1/p' roles/mlflow_server/defaults/main.yml)
client=.cache/mlflow-client
uv=${UV:-.venv/bin/uv}

if [ "$(cat "$client/.mlflow-version" 2>/dev/null)" != "$version" ]; then
    echo "smoke-test: building the MLflow $version client venv in $client"
    rm -rf "$client"
    UV_NATIVE_TLS=true "$uv" venv -q --python python3 "$client"
    UV_NATIVE_TLS=true "$uv" pip install -q --python "$client/bin/python" "mlflow==$version"
    echo "$version" >"$client/.mlflow-version"
fi

export MLFLOW_TRACKING_URI=$url MLFLOW_TRACKING_USERNAME=$user MLFLOW_TRACKING_PASSWORD_FILE=$password_file
[ -n "$ca_file" ] && export MLFLOW_TRACKING_SERVER_CERT_PATH=$ca_file
# Keep the smoke test's own telemetry off too.
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
exec "$client/bin/python" scripts/smoke_test.py
