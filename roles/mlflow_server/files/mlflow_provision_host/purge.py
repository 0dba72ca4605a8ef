"""`gc DAYS URL`: `mlflow gc` for runs and experiments deleted more than DAYS days ago, and
their artifacts. Run by mlflow-gc.service, as the service account, with the 0600 environment file.

MLflow's `gc` wants the database URI as an argument (a password on a command line, readable by
every user through `ps`) and resolves `mlflow-artifacts:/` locations through a tracking server
at MLFLOW_TRACKING_URI. This runs the same command in-process: the URI comes from
MLFLOW_BACKEND_STORE_URI (systemd loads it from the environment file), and artifacts are deleted
through the local MLflow instance at URL, which serves them (whatever the artifact store). With
MLflow's auth app on, the admin's credentials from the environment file authenticate it.
"""

from __future__ import annotations

import os
import sys


def gc_argv(days: str, environ: dict) -> list[str]:
    """The arguments of `mlflow gc` (never on a process's command line)."""
    if not days.isdigit() or int(days) < 1:
        raise ValueError(f"DAYS must be a whole number of days, 1 or more, not {days!r}")
    uri = environ.get("MLFLOW_BACKEND_STORE_URI", "")
    if not uri:
        raise ValueError("MLFLOW_BACKEND_STORE_URI is not set")
    return ["--backend-store-uri", uri, "--older-than", f"{int(days)}d"]


def client_environment(url: str, environ: dict) -> dict:
    """What MLflow's artifact client reads: the instance, and the auth app's admin if any."""
    found = {"MLFLOW_TRACKING_URI": url}
    if environ.get("MLFLOW_AUTH_CONFIG_PATH") and environ.get("MLFLOW_AUTH_ADMIN_PASSWORD"):
        import configparser

        config = configparser.ConfigParser()
        config.read(environ["MLFLOW_AUTH_CONFIG_PATH"])
        found["MLFLOW_TRACKING_USERNAME"] = config.get("mlflow", "admin_username", fallback="admin")
        found["MLFLOW_TRACKING_PASSWORD"] = environ["MLFLOW_AUTH_ADMIN_PASSWORD"]
    return found


def gc(args) -> int:
    try:
        argv = gc_argv(args.days, os.environ)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    os.environ.update(client_environment(args.url, os.environ))
    from mlflow.cli import gc as mlflow_gc  # the venv's MLflow: imported only here (slow)

    return mlflow_gc.main(argv, prog_name="mlflow gc", standalone_mode=False) or 0
