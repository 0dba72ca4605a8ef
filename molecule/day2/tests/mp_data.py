"""Test data for the day-2 scenario, through the real MLflow client (run on the host with an
MLflow venv's python, against the server through nginx: $MLFLOW_TRACKING_URI and friends).

  fill                 20 runs with params, tags and metric histories, artifacts, registered
                       models with versions, tags and aliases, auth users
  snapshot             what the server holds, as JSON on stdout (sorted, comparable): runs with
                       params, tags and full metric histories, models, aliases, users, and the
                       checksums of a few artifacts downloaded through the server (the test
                       compares every artifact byte on disk)
  loop RESULT STOP     logs a metric point after point to a new run until the file STOP exists,
                       with the client's own retries; writes {run_id, logged, errors} to RESULT
"""

import hashlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from mlflow.entities import Metric, Param, RunTag
from mlflow.server.auth.client import AuthServiceClient
from mlflow.tracking import MlflowClient

# Enough for every kind of data MLflow keeps (histories, artifacts, models, aliases, users);
# the time goes to MLflow 3.11's auth app hashing the password of each request.
RUNS = 20
STEPS = 20
# MLflow 3.11's auth app verifies the password of every request (a PBKDF2 hash, ~0.25 s of CPU;
# later releases cache it): requests go out a few at a time, and histories in bulk.
THREADS = 4
USERS = {"day2-alice": "alice day2 password", "day2-bob": "bob day2 password"}


def client():
    return MlflowClient()


def _log_run(c, exp, i):
    run = c.create_run(exp, run_name=f"run-{i:03d}", tags={"batch": str(i // 10)})
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    metrics = [
        Metric(key, value, now + step, step)
        for step in range(STEPS)
        for key, value in (("loss", 1.0 / (step + 1 + i)), ("accuracy", step / STEPS))
    ]
    params = [Param("lr", str(0.001 * (i + 1))), Param("layers", str(i % 5 + 1))]
    c.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag("index", str(i))])
    if i % 5 == 0:
        c.log_text(run_id, f"notes of run {i}\n" * 50, "notes/readme.txt")
        c.log_dict(run_id, {"run": i, "weights": list(range(200))}, "model/weights.json")
    c.set_terminated(run_id)
    return run_id


def fill():
    c = client()
    exp = c.create_experiment("day2", tags={"team": "platform"})
    with ThreadPoolExecutor(THREADS) as pool:
        run_ids = list(pool.map(lambda i: _log_run(c, exp, i), range(RUNS)))
    for m in range(3):
        name = f"day2-model-{m}"
        c.create_registered_model(name, tags={"owner": "platform", "index": str(m)})
        for v in range(2):
            run_id = run_ids[m * 5 + v]
            c.create_model_version(
                name, f"runs:/{run_id}/model", run_id=run_id, tags={"stage": f"s{v}"}
            )
        c.set_registered_model_alias(name, "champion", "2")
        c.set_registered_model_alias(name, "previous", "1")
    auth = AuthServiceClient(os.environ["MLFLOW_TRACKING_URI"])
    for name, password in USERS.items():
        auth.create_user(name, password)
    print(json.dumps({"experiment": exp, "runs": len(run_ids)}))


def _session():
    """requests with the client's credentials and trust, for calls the client has no API for."""
    session = requests.Session()
    session.auth = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"])
    session.verify = os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"]
    return session


def _histories(run_ids, key):
    """Every point of `key` of these runs, in bulk (MLflow's UI endpoint, 100 runs a call)."""
    session = _session()
    points = {}
    for start in range(0, len(run_ids), 100):
        chunk = run_ids[start : start + 100]
        answer = session.get(
            os.environ["MLFLOW_TRACKING_URI"] + "/ajax-api/2.0/mlflow/metrics/get-history-bulk",
            params={"run_id": chunk, "metric_key": key, "max_results": 25000},
            timeout=60,
        )
        answer.raise_for_status()
        for m in answer.json().get("metrics", []):
            points.setdefault(m["run_id"], []).append([m["step"], m["value"], m["timestamp"]])
    return {run_id: sorted(p) for run_id, p in points.items()}


def _artifacts(c, run_id, path=None):
    found = {}
    for item in c.list_artifacts(run_id, path):
        if item.is_dir:
            found.update(_artifacts(c, run_id, item.path))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                local = c.download_artifacts(run_id, item.path, tmp)
                found[item.path] = hashlib.sha256(Path(local).read_bytes()).hexdigest()
    return found


def snapshot():
    c = client()
    state = {"experiments": {}, "runs": {}, "models": {}, "users": {}, "downloads": {}}
    runs = []
    for exp in c.search_experiments():
        state["experiments"][exp.name] = {"id": exp.experiment_id, "tags": dict(exp.tags)}
        runs += c.search_runs([exp.experiment_id], max_results=1000)
    keys = sorted({key for run in runs for key in run.data.metrics})
    histories = {key: _histories([r.info.run_id for r in runs], key) for key in keys}
    for run in runs:
        info, data = run.info, run.data
        state["runs"][info.run_id] = {
            "name": info.run_name,
            "status": info.status,
            "start": info.start_time,
            "end": info.end_time,
            "params": dict(data.params),
            "tags": dict(data.tags),
            "metrics": {key: histories[key].get(info.run_id, []) for key in sorted(data.metrics)},
        }
    # A few artifacts through the server, as a client downloads them.
    sample = [r.info.run_id for r in runs if r.info.run_name in ("run-000", "run-050", "run-090")]
    with ThreadPoolExecutor(THREADS) as pool:
        for run_id, found in zip(sample, pool.map(lambda r: _artifacts(c, r), sample), strict=True):
            state["downloads"][run_id] = found
    for model in c.search_registered_models():
        versions = c.search_model_versions(f"name='{model.name}'")
        state["models"][model.name] = {
            "tags": dict(model.tags),
            "aliases": dict(sorted((a, v) for a, v in model.aliases.items())),
            "versions": {
                v.version: {"run_id": v.run_id, "source": v.source, "tags": dict(v.tags)}
                for v in versions
            },
        }
    # The REST answer itself: a 3.11 client cannot parse a 3.17 server's user (its roles).
    session = _session()
    for name in USERS:
        answer = session.get(
            os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/users/get",
            params={"username": name},
            timeout=60,
        )
        answer.raise_for_status()
        state["users"][name] = {"admin": answer.json()["user"]["is_admin"]}
    json.dump(state, sys.stdout, sort_keys=True)


def loop(result_path, stop_path):
    c = client()
    exp = c.get_experiment_by_name("day2").experiment_id
    run_id = c.create_run(exp, run_name="during-upgrade").info.run_id
    logged, errors, step, started = [], [], 0, time.time()
    # Bounded: the test stops it; if it does not, 15 minutes at most.
    while not os.path.exists(stop_path) and time.time() - started < 900:
        try:
            c.log_metric(run_id, "live", float(step), step=step)
            logged.append(step)
        except Exception as exc:
            errors.append(f"step {step}: {type(exc).__name__}: {str(exc)[:300]}")
        step += 1
        time.sleep(0.1)
    Path(result_path).write_text(json.dumps({"run_id": run_id, "logged": logged, "errors": errors}))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "fill":
        fill()
    elif command == "snapshot":
        snapshot()
    elif command == "loop":
        loop(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
