"""`db-upgrade`: `mlflow db upgrade` for the database in $MLFLOW_BACKEND_STORE_URI, and the
auth database.

MLflow's CLI takes the database URI as an argument, which would put the password on a command
line, readable by every user through `ps`. This runs the very same migration with the URI that
systemd loads from the 0600 environment file. Run with the python of the venv to migrate for:
mlflow-db-upgrade.service does (its ExecStart names the venv). With MLflow's basic-auth app on
($MLFLOW_AUTH_CONFIG_PATH), or mlflow-oidc-auth ($OIDC_USERS_DB_URI), its database is migrated
too, here, once, rather than by every worker of the server at the same time.
"""

from __future__ import annotations

import os
import sys


def db_upgrade(args) -> int:
    uri = os.environ.get("MLFLOW_BACKEND_STORE_URI", "")
    if not uri:
        print("MLFLOW_BACKEND_STORE_URI is not set", file=sys.stderr)
        return 2
    import sqlalchemy
    from mlflow.store.db import utils as db_utils

    engine = db_utils.create_sqlalchemy_engine_with_retry(uri)
    if not sqlalchemy.inspect(engine).get_table_names():
        # An empty database: the initial tables, then every migration. `mlflow db upgrade`
        # does this itself only from 3.12 on (3.11 fails on the first ALTER TABLE).
        db_utils._initialize_tables(engine)
    else:
        db_utils._upgrade_db(engine)
    engine.dispose()
    print("database schema is at the head revision of this MLflow version")
    if os.environ.get("MLFLOW_AUTH_CONFIG_PATH"):
        from mlflow.server.auth.config import read_auth_config
        from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

        # init_db creates or migrates the auth schema to this version's head.
        SqlAlchemyStore().init_db(read_auth_config().database_uri)
        print("auth database schema is at the head revision of this MLflow version")
    oidc_uri = os.environ.get("OIDC_USERS_DB_URI", "")
    if oidc_uri:
        from mlflow_oidc_auth.db.utils import migrate

        # The oidc app migrates at a worker's first use otherwise: every worker at once.
        engine = sqlalchemy.create_engine(oidc_uri)
        migrate(engine, "head")
        engine.dispose()
        print("oidc auth database schema is at the head revision of mlflow-oidc-auth")
    return 0
