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

# First match wins; a problem matches when every word of one of its phrases appears. TLS comes
# first: its messages may mention a missing file ("does not exist"), and a refused plain-text
# connection names the database ("no pg_hba.conf entry for host ..., database ..., no encryption").
PROBLEMS = {
    "TLS required or failed": [("ssl",), ("certificate",), ("no encryption",)],
    "database does not exist": [("database", "does not exist"), ("unknown database",)],
    "authentication failed": [
        ("password authentication failed",),
        ("access denied",),
        ("authentication failed",),
    ],
    "host unreachable": [
        ("could not translate host name",),
        ("name or service not known",),
        ("connection refused",),
        ("timeout expired",),
        ("timed out",),
        ("no route to host",),
        ("network is unreachable",),
        ("can't connect",),
    ],
}


def classify(message: str) -> str:
    lowered = message.lower()
    for problem, phrases in PROBLEMS.items():
        if any(all(word in lowered for word in phrase) for phrase in phrases):
            return problem
    return "connection failed"


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
        print(f"{where}: {classify(detail)}: {detail}")
        return 1
    print(f"{where}: connected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
