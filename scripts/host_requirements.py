"""Print the requirements of an MLflow venv as role mlflow_server installs it on a host: its
MLflow (with the auth extra) and pinned packages, read from the role's defaults.

`make setup` builds .cache/host-venv from them: the venv the host helpers' unit tests
(tests/test_host_*.py) run `mlflow-host` with, so that they test against the MLflow, SQLAlchemy
and drivers the hosts get.
"""

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    defaults = yaml.safe_load((ROOT / "roles/mlflow_server/defaults/main.yml").read_text())
    print(f"mlflow[auth]=={defaults['mlflow_server_version']}")
    for package in defaults["mlflow_server_packages"]:
        print(package)
    return 0


if __name__ == "__main__":
    sys.exit(main())
