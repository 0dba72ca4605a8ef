"""`mlflow db upgrade` for the database in $MLFLOW_BACKEND_STORE_URI.

MLflow's CLI takes the database URI as an argument, which would put the password on a command
line, readable by every user through `ps`. This runs the very same command with the URI that
systemd loads from the 0600 environment file. Run with the python of the venv to migrate for:
mlflow-db-upgrade@<version>.service does.
"""

import os
import sys

from mlflow.db import upgrade


def main() -> int:
    uri = os.environ.get("MLFLOW_BACKEND_STORE_URI", "")
    if not uri:
        print("MLFLOW_BACKEND_STORE_URI is not set", file=sys.stderr)
        return 2
    upgrade.callback(uri)
    print("database schema is at the head revision of this MLflow version")
    return 0


if __name__ == "__main__":
    sys.exit(main())
