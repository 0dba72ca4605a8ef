#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine.
# - An engine that already answers is left alone.
# - Otherwise docker.io is installed from the distribution (when dockerd is missing) and
#   dockerd is started in the background, logging to $DOCKERD_LOG.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
WAIT_SECONDS=${DOCKER_WAIT_SECONDS:-60}

engine_answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
    echo "ensure-docker: engine already running"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "ensure-docker: dockerd is missing; install docker.io (needs root)" >&2
        exit 1
    fi
    echo "ensure-docker: installing docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-docker: no engine answers and starting dockerd needs root" >&2
    exit 1
fi

echo "ensure-docker: starting dockerd (log: $DOCKERD_LOG)"
# setsid: the engine must outlive the make/CI process group that started it.
setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &

for _ in $(seq "$WAIT_SECONDS"); do
    if engine_answers; then
        echo "ensure-docker: engine answers"
        exit 0
    fi
    sleep 1
done
echo "ensure-docker: dockerd did not answer within ${WAIT_SECONDS}s; last log lines:" >&2
tail -n 20 "$DOCKERD_LOG" >&2 || true
exit 1
