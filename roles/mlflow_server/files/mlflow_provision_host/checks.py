"""The checks before the server starts: `db-check` (the database) and `artifact-check` (the
Azure Blob artifact store). Each reaches its store the way the server will and prints one line:
what it reached, or what is wrong in one phrase (problems.py) with the driver's or the SDK's
own words. Never a password, a key or a connection string.

Run by the play with the venv's python, as the service account, with the 0600 environment file
(systemd-run): the same driver, settings, credentials and TLS files the server will use.
"""

from __future__ import annotations

import os

from .databases import database_from_uri
from .problems import ARTIFACT_STORE, DATABASE, classify


def db_check(args) -> int:
    """Connect to the database in $MLFLOW_BACKEND_STORE_URI and run a query: 0 when both work,
    1 with what is wrong (host unreachable, TLS required or failed, authentication failed,
    database does not exist), 2 without a URI."""
    uri = os.environ.get("MLFLOW_BACKEND_STORE_URI", "")
    if not uri:
        print("MLFLOW_BACKEND_STORE_URI is not set")
        return 2
    import sqlalchemy

    database = database_from_uri(uri, "database")
    where = database.where + (f" as {database.user!r}" if database.kind != "sqlite" else "")
    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.SQLAlchemyError as exc:
        detail = " ".join(str(getattr(exc, "orig", None) or exc).split())
        print(f"{where}: {classify(detail, DATABASE, 'connection failed')}: {detail}")
        return 1
    print(f"{where}: connected")
    return 0


def artifact_check(args) -> int:
    """List the container of args.uri (wasbs://container@account.blob.../path) with MLflow's
    own wasbs repository, so that the credential (connection string, account key or managed
    identity) and the endpoint are exactly the server's; create it when missing and
    args.create_container. Prints "... reachable", "... created", "... missing" (exit 0), or
    what is wrong (exit 1): endpoint unreachable, no credential, authentication failed, not
    authorized, account or container missing."""
    from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
    from mlflow.store.artifact.azure_blob_artifact_repo import AzureBlobArtifactRepository

    container, account = AzureBlobArtifactRepository.parse_wasbs_uri(args.uri)[:2]
    where = f"Azure Blob container {container!r} of account {account!r}"
    try:
        repo = AzureBlobArtifactRepository(args.uri)
        client = repo.client.get_container_client(container)
        try:
            # One retry: retries would turn a wrong endpoint into minutes of waiting.
            next(iter(client.list_blobs(results_per_page=1, retry_total=1)), None)
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) != "ContainerNotFound":
                raise
            if not args.create_container:
                print(f"{where}: missing")
                return 0
            try:
                client.create_container()
            except ResourceExistsError:
                # The hosts of a cluster check at once: another one created it a moment ago.
                print(f"{where}: reachable")
                return 0
            print(f"{where}: created")
            return 0
    except (AzureError, ValueError) as exc:
        code = getattr(exc, "error_code", None)
        code = getattr(code, "value", code) or ""
        detail = " ".join(f"{code} {exc}".split())
        # The first line of an SDK message is the one that says what happened.
        detail = detail.split(" RequestId:", maxsplit=1)[0][:400]
        print(f"{where}: {classify(detail, ARTIFACT_STORE, 'request failed')}: {detail}")
        return 1
    print(f"{where}: reachable")
    return 0
