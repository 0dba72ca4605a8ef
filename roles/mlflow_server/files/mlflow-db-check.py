"""Connect to the database in $MLFLOW_BACKEND_STORE_URI and say plainly what is wrong.

Run by the play before the schema migration, with the venv's python, as the service account,
with the 0600 environment file (systemd-run): the same driver, settings and TLS files the server
will use. Prints one line and exits 0 when a connection and a query succeed; otherwise prints
what is wrong (host unreachable, TLS required or failed, authentication failed, database does
not exist) with the driver's own words, and exits 1. Never prints the password.
"""

import os
import sys

import sqlalchemy
from mlflow_check_errors import DATABASE, classify


def main() -> int:
    uri = os.environ.get("MLFLOW_BACKEND_STORE_URI", "")
    if not uri:
        print("MLFLOW_BACKEND_STORE_URI is not set")
        return 2
    url = sqlalchemy.engine.make_url(uri)
    where = (
        f"{url.get_backend_name()} database {url.database!r} at {url.host}:{url.port}"
        f" as {url.username!r}"
    )
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.SQLAlchemyError as exc:
        detail = " ".join(str(getattr(exc, "orig", None) or exc).split())
        print(f"{where}: {classify(detail, DATABASE, 'connection failed')}: {detail}")
        return 1
    print(f"{where}: connected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
