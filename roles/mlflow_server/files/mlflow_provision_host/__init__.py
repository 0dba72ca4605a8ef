"""The host side of role mlflow_server: the checks, the schema migration, the health wait, the
purge of deleted runs, and the backups, as subcommands of one command, `mlflow-host`.

Installed by the role under /opt/mlflow/bin (this package beside the `mlflow-host` script, which
puts it on the path) and run there by the role's tasks and units: with the python of an MLflow
venv and the server's 0600 environment file loaded by systemd (the database URIs come from
$MLFLOW_BACKEND_STORE_URI, never from a command line), or, for `instance-wait` and
`instance-versions`, with the system python (standard library only, any MLflow version).

Modules: cli (the command line), databases (one class per database kind), archive (tarballs
and checksums), backups, checks, migrate, purge, instances, problems (the error classifier).
Unit tests: tests/test_host_*.py (SQLite in-process, the venv's MLflow); MySQL and PostgreSQL
in molecule.
"""


class Failure(Exception):
    """What went wrong, in one line, for the play to show (never a password)."""
